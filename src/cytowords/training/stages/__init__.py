"""The stages of :func:`cytowords.training.pipeline.train`: vision (encoder, embeddings,
head; :mod:`.vision`), open-set scorer (:mod:`.scorer`), cortex detector (:mod:`.cortex`),
captioner (:mod:`.caption`), and the captioner-only retrain of a bundle
(:mod:`.from_bundle`)."""
