"""The benchmark's peers: the same GAN written plainly on an array library (array_peer:
NumPy or CuPy+cuBLAS), PyTorch and JAX (torch_peer, jax_peer), and the clocks that time
them (clocks)."""
