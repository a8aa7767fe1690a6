"""Execute a notebook with its kernel, echoing each cell and its streamed output to stderr as it runs,
then write the executed notebook and its HTML to OUT_DIR (both also when a cell fails, to show where).

usage: python3 run_notebook.py NOTEBOOK OUT_DIR [TIMEOUT_S]
"""
import os
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbconvert_config import record_error, record_not_run  # noqa: E402


class EchoingClient(NotebookClient):
    """NotebookClient that copies stream output (stdout and stderr of the kernel) to this process's stderr."""

    def output(self, outs, msg, display_id, cell_index):
        if msg['msg_type'] == 'stream':
            sys.stderr.write(msg['content']['text'])
        return super().output(outs, msg, display_id, cell_index)


def main(path, out_dir, timeout=1800):
    nb = nbformat.read(path, as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == 'code']
    name = os.path.splitext(os.path.basename(path))[0]

    def on_cell_start(cell, cell_index):
        if cell.cell_type != 'code':
            return
        first = next((l for l in cell.source.splitlines() if l.strip() and not l.startswith('//')), '')
        sys.stderr.write('[notebook] cell %d/%d: %s\n' % (code.index(cell_index) + 1, len(code), first[:90]))

    # the kernel runs in the notebook's folder, whose node_modules holds the library link
    client = EchoingClient(nb, timeout=timeout, kernel_name=nb.metadata.kernelspec.name, on_cell_start=on_cell_start,
                           on_cell_error=record_error, on_cell_executed=record_not_run,
                           resources={'metadata': {'path': os.path.dirname(os.path.abspath(path))}})
    try:
        client.execute()
    except CellExecutionError:
        pass  # the failed cell holds an error output; its message was echoed with the cell's output
    failed = [k + 1 for k, i in enumerate(code) if any(o.output_type == 'error' for o in nb.cells[i].outputs)]
    os.makedirs(out_dir, exist_ok=True)
    nbformat.write(nb, os.path.join(out_dir, name + '.ipynb'))
    html, _ = HTMLExporter().from_notebook_node(nb)
    with open(os.path.join(out_dir, name + '.html'), 'w', encoding='utf-8') as f:
        f.write(html)
    if failed:
        sys.stderr.write('[notebook] cell %d/%d failed (its error is above); the notebook ran up to it\n' % (failed[0], len(code)))
        return 1
    return 0


if __name__ == '__main__':
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2], *[int(a) for a in sys.argv[3:]]))
