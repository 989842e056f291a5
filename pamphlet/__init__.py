"""pamphlet: from an issue manifest and Markdown articles to print-ready PDFs."""

__version__ = "0.1.0"
