"""Builds the optional C accelerator; everything else is declared in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pywalrus._native",
            ["src/pywalrus/_native.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
