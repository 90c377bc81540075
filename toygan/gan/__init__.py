"""One GAN step per backend behind one interface (step.GANStep): numpy_gan (NumPy layers),
device_gan (the kernels: per-op and fused steps, kernel_steps), populations and
device_populations (P members in lockstep); factory is the only place that picks one."""
