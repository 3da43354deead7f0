"""Options every bench command takes the same way."""

from pathlib import Path
from typing import Annotated

import typer

#: ``--json``: print only the result's JSON line.
JsonOnly = Annotated[bool, typer.Option("--json", help="Print only the JSON line.")]
#: ``--input``: a labelled stream (the shared JSONL format, gold ``story`` labels read for scoring).
Stream = Annotated[Path, typer.Option("--input", exists=True, dir_okay=False, help="Labelled JSONL stream.")]
