"""Splits: the protocols that partition a cache into train / val / id_test / ood_test (:mod:`.protocols`) and the
split report of notebook 01 (:mod:`.report`)."""
