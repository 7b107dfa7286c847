"""Feature extractors and what they need: their weights, feature caches and statistics.

- :mod:`.features`: the :class:`~.features.FeatureExtractor` base class and the sample and
  reference feature caches (keyed by the extractor's identity, never by a module path);
- :mod:`.classifier`: genbench's offline small classifier, with its shipped weights in
  ``weights/`` (sha256 pinned);
- :mod:`.stats`: the Fréchet distance, KID, Inception/classifier score and PRDC maths;
- :mod:`.files`: weights-file hashing and verification.

Metric modules stay in :mod:`genbench.metrics`, one per protocol, grouped by the capability
they consume: sampling (:mod:`~genbench.metrics.inception`, :mod:`~genbench.metrics.classifier_metrics`,
:mod:`~genbench.metrics.prdc`), likelihood (:mod:`~genbench.metrics.nll`), representation
(:mod:`~genbench.metrics.probe`, :mod:`~genbench.metrics.reconstruction`), anomaly
(:mod:`~genbench.metrics.ood`), translation (:mod:`~genbench.metrics.translation`) and
classification (:mod:`~genbench.metrics.accuracy`).
"""
