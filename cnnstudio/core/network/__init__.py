"""Networks: layer specs, the architectures, min pooling, the shape table and the Keras model builder."""
