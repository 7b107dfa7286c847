"""Built-in metrics, registered through the same hooks as plugins' metrics (:mod:`.builtin`).

| metric | direction | needs | module |
| --- | --- | --- | --- |
| ``fid``, ``fid-clean``, ``kid``, ``is`` | min, min, min, max | sample | :mod:`.inception` |
| ``clf-fd``, ``clf-score`` | min, max | sample | :mod:`.classifier_metrics` |
| ``{clf,inception}-{precision,recall,density,coverage}`` | max | sample | :mod:`.prdc` |
| ``cond-acc`` | max | conditional | :mod:`.classifier_metrics` |
| ``nll`` (bits/dim) | min | log_likelihood | :mod:`.nll` |
| ``accuracy`` | max | classify | :mod:`.accuracy` |
| ``probe-acc`` | max | encode | :mod:`.probe` |
| ``recon-mse``, ``psnr`` (dB) | min, max | reconstruct | :mod:`.reconstruction` |
| ``ood-auroc`` | max | log_likelihood or reconstruct | :mod:`.ood` |

Supporting modules: :mod:`.nll` also holds the dequantisation convention every likelihood
model follows; :mod:`.extractors` the feature-extractor plumbing every feature metric shares:
:mod:`.extractors.stats` the Fréchet distance, KID, Inception/classifier score and PRDC maths;
:mod:`.extractors.features` the extractor base class and the sample/reference feature caches;
:mod:`.extractors.classifier` genbench's offline classifier (weights in ``extractors/weights/``,
hashes pinned); :mod:`.extractors.files` weights-file hashing.
"""
