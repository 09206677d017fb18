"""One sample, every scale: the sample description, registration of maps onto micrographs,
lift-out site classification and the correlative workflow."""

from supramap.correlate.registration import Affine, affine_from_points, auto_register, resample_to
from supramap.correlate.sample import Measurement, Sample, SampleError, Site, load_sample
from supramap.correlate.sites import classify_sites

__all__ = ["Affine", "affine_from_points", "auto_register", "resample_to", "load_sample",
           "Sample", "Measurement", "Site", "SampleError", "classify_sites"]
