"""`mlserve batch`'s file I/O: chunked readers (CSV/TSV, JSON lines, .npy, Parquet), writers
that resume, and the progress bar."""
