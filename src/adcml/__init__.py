"""adcml: provision NetScaler (Citrix ADC) in front of AI inference."""

__version__ = "0.1.0"
