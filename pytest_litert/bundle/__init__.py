"""The exported bundle: converted cells plus everything judging needs, for a machine without
TensorFlow (a phone, an Arm board, the emulated SME2 Linux). export.py writes it (where
TensorFlow runs); layout.py reads its index (light) and its artifacts (numpy, LiteRT schema)."""
