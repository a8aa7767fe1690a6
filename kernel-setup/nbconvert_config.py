"""Jupyter config for executing notebooks with the tslab kernel:
`jupyter nbconvert --config kernel-setup/nbconvert_config.py --to notebook --execute --allow-errors ...`

tslab reports a failing cell (an exception, or a TypeScript compile error) only in its execute reply, with the
message on the cell's stderr, and then aborts the cells queued behind it. With --allow-errors nothing in the
executed notebook would say which cell failed or that later cells never ran. These hooks record both as error
outputs, as the Python kernel does: the failure with the end of the cell's stderr as its message, and
'CellNotRun' for a cell whose reply was not 'ok' or 'error' (tslab answers 'abort').
"""
import nbformat


def stderr_tail(cell, lines=20):
    """The last `lines` lines of the cell's stderr stream output."""
    stderr = ''.join(''.join(o.get('text', '')) for o in cell.outputs if o.get('name') == 'stderr')
    return '\n'.join(stderr.strip().splitlines()[-lines:])


def record_error(cell, cell_index, execute_reply):
    """nbclient's on_cell_error hook: append an error output to the failed cell."""
    content = execute_reply['content']
    cell.outputs.append(nbformat.v4.new_output(
        'error', ename=content.get('ename') or 'CellError', evalue=content.get('evalue') or stderr_tail(cell) or 'the cell failed',
        traceback=[]))


def record_not_run(cell, cell_index, execute_reply):
    """nbclient's on_cell_executed hook: append an error output to a cell the kernel did not run."""
    status = (execute_reply or {}).get('content', {}).get('status')
    if status not in ('ok', 'error'):
        cell.outputs.append(nbformat.v4.new_output(
            'error', ename='CellNotRun', evalue='the kernel did not run this cell (execute reply status %r)' % status, traceback=[]))


try:
    get_config().ExecutePreprocessor.on_cell_error = record_error  # noqa: F821 (defined when Jupyter loads this file)
    get_config().ExecutePreprocessor.on_cell_executed = record_not_run  # noqa: F821
except NameError:  # imported as a module (run_notebook.py)
    pass
