"""The CUDA kernel sources (kernels/*.cu) and the CPU emulation header, as package data."""
