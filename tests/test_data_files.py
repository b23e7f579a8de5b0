"""The files of a local MRPC folder (``mrpc.data_files``): only regular files are data."""
import os

import pytest

from factories import tsv_folder
from pytest_finetune.errors import DataError
from pytest_finetune.mrpc.data_files import describe_source, split_files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this OS")
def test_a_fifo_as_a_split_file_is_refused_before_anything_reads_it(tmp_path):
    """Reading a FIFO blocks until someone writes to it: the session would hang forever."""
    folder = tsv_folder(tmp_path / "data")
    (folder / "train.tsv").unlink()
    os.mkfifo(folder / "train.tsv")
    with pytest.raises(DataError, match=r"train\.tsv: is a FIFO \(named pipe\), expected a data file"):
        split_files(folder)
    with pytest.raises(DataError, match="is a FIFO"):
        describe_source(folder)
