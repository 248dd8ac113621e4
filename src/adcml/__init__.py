"""adcml: provision NetScaler (Citrix ADC) in front of AI inference."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("adcml")  # what is installed: a lab wheel says which source it holds
except PackageNotFoundError:  # run from a source tree that is not installed
    __version__ = "0.1.0"
