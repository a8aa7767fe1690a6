"""Jupyter config for executing notebooks with the tslab kernel:
`jupyter nbconvert --config kernel-setup/nbconvert_config.py --to notebook --execute --allow-errors ...`

tslab reports a failing cell only in its execute reply (the message itself goes to the cell's stderr), so
with --allow-errors nothing in the executed notebook would say which cell failed. This records the failure
as an error output, as the Python kernel does, with the end of the cell's stderr as its message.
"""
import nbformat


def record_error(cell, cell_index, execute_reply):
    """nbclient's on_cell_error hook: append an error output to the failed cell."""
    content = execute_reply['content']
    stderr = ''.join(''.join(o.get('text', '')) for o in cell.outputs if o.get('name') == 'stderr')
    message = '\n'.join(stderr.strip().splitlines()[-20:]) or 'the cell failed'
    cell.outputs.append(nbformat.v4.new_output(
        'error', ename=content.get('ename') or 'CellError', evalue=content.get('evalue') or message, traceback=[]))


try:
    get_config().ExecutePreprocessor.on_cell_error = record_error  # noqa: F821 (defined when Jupyter loads this file)
except NameError:  # imported as a module (run_notebook.py)
    pass
