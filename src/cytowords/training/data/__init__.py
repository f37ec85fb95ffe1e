"""What training learns from: labelled sections and data specs (:mod:`.spec`,
:mod:`.spec_check`), synthetic sections (:mod:`.synthetic`), patch sets and their centres
(:mod:`.patches`, :mod:`.grid`), and the captioner's per-field targets (:mod:`.readout_truth`,
:mod:`.caption_targets`)."""
