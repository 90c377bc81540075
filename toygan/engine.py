"""Old import path, kept for scripts written against it: the kernel-backed GAN step now
lives in toygan.gan.device_gan (and toygan.device for Device, DeviceMLP, DeviceOptimizer)."""

from .device import KINDS, Device, DeviceMLP, DeviceOptimizer  # noqa: F401
from .gan.device_gan import PHILOX_STREAMS, DeviceGAN  # noqa: F401
