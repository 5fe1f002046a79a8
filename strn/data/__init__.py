"""Data: UCF-101 layout reader, PyAV decoding, frame cache, datasets, synthetic set."""
