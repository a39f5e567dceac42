"""Bundled real candle history (see README.md here); a package so the files ship inside the wheel."""
