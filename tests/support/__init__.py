"""Helpers shared by several test packages (importable from any test: the root
``tests/conftest.py`` puts ``tests/`` on ``sys.path``, as for ``postgres``)."""
