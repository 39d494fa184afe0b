"""heritage_core: hierarchical damage segmentation of heritage artworks on ARTeFACT."""
__version__ = "0.1.0"
