"""The Japanese edition is not executed by nbval: its code cells are the English ones, which
`pytest notebooks --nbval-lax` already runs in full; tests/test_ja_edition.py proves the code
identical and starts each Japanese notebook in the CI profile instead (docs/japanese.md)."""
collect_ignore_glob = ["*.ipynb"]
