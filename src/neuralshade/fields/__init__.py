"""Coordinate networks: a signal as a function of position, learned by a small network.

An image is ``(x, y) -> (r, g, b)``, a shape is ``(x, y, z) -> signed distance``. A field is
an input encoding followed by a small MLP:

- :mod:`neuralshade.fields.encodings`: input encodings as tiny-cuda-nn style dicts
  (``{"otype": "HashGrid", "n_levels": 16, ...}``): Identity, Frequency (NeRF's positional
  encoding) and HashGrid (Instant-NGP's multiresolution hash encoding, a pure-torch version of
  tiny-cuda-nn's that runs on CPU and exports to ONNX);
- :mod:`neuralshade.fields.network`: activations (ReLU, Sine, Gaussian), SIREN initialisation,
  the MLP, ``FieldNetwork`` (input affine map + encoding + MLP, rebuilt from its ``spec``) and
  the Adam ``optimizer`` with Instant-NGP's settings for the hash tables;
- :mod:`neuralshade.fields.image`: fitting an image (``neuralshade fit image``);
- :mod:`neuralshade.fields.shapes`: the true shapes a distance field is fitted to (analytic
  SDFs, meshes through trimesh with exact signed distances) and the points to fit them on;
- :mod:`neuralshade.fields.geometry`: anything that takes an SDF: sphere tracing with autograd
  normals, marching cubes, occupancy IoU and Chamfer distance.
"""
