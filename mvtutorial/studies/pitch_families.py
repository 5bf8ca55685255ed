"""The pitch study's families and data controls (chapter 6.8), by identifier: what each changes and why.

Each :class:`~mvtutorial.studies.separation.Family` is the overrides of the study's base, ``+ cross-view + rate``
(:data:`~mvtutorial.studies.separation.PREVIOUS`, the recommendation before this study)
(:data:`PITCH_FAMILIES`; :data:`DATA_CONTROLS` override the tone set instead), the hypothesis it tests,
written before its runs, and the label its rows show. :mod:`mvtutorial.studies.pitch` trains and scores them.
"""
from __future__ import annotations

from .separation import Family

__all__ = ["PITCH_FAMILIES", "DATA_CONTROLS"]

#: Families of the pitch study by identifier: overrides of the base configuration, hypothesis, label.
PITCH_FAMILIES: dict[str, Family] = {
    "freqconv": Family(
        {"arch": "freqconv"},
        "two convolutions along frequency before the encoder's MLP see a partial moved up the spectrum as the same "
        "pattern shifted, so pitch becomes easier to keep precisely, also among the aliases of the top classes", "+ frequency-conv encoder"),
    "calibrated": Family(
        {"reconstruction": "gaussian"},
        "a Gaussian decoder with one variance set to the batch's mean squared error (optimal sigma-VAE) prices "
        "distortion in nats, like the rates: a unit of squared error costs 1/(2 sigma^2) nats instead of 1, about 30 "
        "at the base model's error, so the rates (unchanged) get that much cheaper and the private code can "
        "afford the nats of pitch detail; the same discount may let timbre back into the private code",
        "+ calibrated decoder"),
    "adversary": Family(
        {"arch": "freqconv", "private_adversary": 10.0, "rate_private": 1.5},
        "the private rate is what keeps timbre out of the private code, and it also blurs pitch; an adversary that "
        "predicts the shared code from the private sample, its gradient reversed into the encoder (Ganin & Lempitsky "
        "2015; the private/shared split of domain separation networks, Bousmalis et al. 2016), takes over that job, so "
        "the private rate can drop to 1.5 and pitch detail becomes affordable, on the frequency-conv encoder",
        "+ adversary, freq-conv, private rate 1.5"),
    "adversary-calibrated": Family(
        {"arch": "freqconv", "reconstruction": "gaussian", "private_adversary": 300.0},
        "the calibrated decoder kept the most pitch because it makes every rate ~30x cheaper (1/(2 sigma^2)), which also "
        "let timbre back in; the adversary kept timbre out at a cheap private rate, so with its weight scaled by the same "
        "factor (10 x 30) it may hold timbre out here too while the cheap rate leaves room for pitch",
        "+ adversary, freq-conv, calibrated decoder"),
    "adversary-calibrated-shared-rate": Family(
        {"arch": "freqconv", "reconstruction": "gaussian", "private_adversary": 300.0, "rate_shared": 3.0},
        "the calibrated families leak pitch into the shared code because the calibrated decoder makes the shared "
        "rate ~30x cheaper too; restoring its price (0.1 x 30 = 3) should close that leak while the private rate "
        "stays cheap enough for pitch",
        "+ adversary, freq-conv, calibrated decoder, shared rate 3"),
    "adversary-calibrated-rates": Family(
        {"arch": "freqconv", "reconstruction": "gaussian", "private_adversary": 300.0, "rate_shared": 3.0, "rate_private": 30.0},
        "with the shared rate restored, timbre still leaks into the private code at a private rate ~30x cheaper than "
        "the base's; the adversary family held it out at 1.5 in squared-error units, so a private rate of 30 "
        "(about 1 in those units, 30 x 2 sigma^2) may hold timbre out while staying cheaper for pitch than 1.5",
        "+ adversary, freq-conv, calibrated decoder, rates 3 / 30"),
    "transposition": Family(
        {"transposition": 5000.0},
        "the pair's second view is the first transposed by a known interval; asking the first private coordinate of "
        "the two samples to differ by that interval in octaves (SPICE, Gfeller et al. 2020; PESTO, Riou et al. 2023) "
        "makes pitch one precise direction of the private code at every class, aliased ones included, without an "
        "absolute label; the weight sets the cheapest noise along that axis at the base's private rate to "
        "sqrt(4 / (2 x 5000)) = 0.02 octave, a tenth of a class, and the term adds nothing about timbre",
        "+ transposition equivariance"),
    "transposition-freqconv": Family(
        {"transposition": 5000.0, "arch": "freqconv"},
        "on the pooled encoder the equivariant pitch axis stays imprecise for the harmonic-rich waveforms; an encoder "
        "that convolves along frequency sees a transposed tone as the same pattern shifted, the structure the "
        "equivariance asks for (PESTO's encoder convolves along a log-frequency input), so the axis may sharpen there",
        "+ transposition equivariance, freq-conv encoder"),
    "transposition-adversary": Family(
        {"transposition": 5000.0, "arch": "freqconv", "private_adversary": 10.0, "rate_private": 1.5},
        "only differences within a pair constrain the pitch axis, and a pair shares its timbre, so each timbre may "
        "shift the axis by its own offset, which puts timbre in the private code; the adversary (the private code must "
        "not predict the shared code) removes what the private code says about timbre, offsets included, so the "
        "adversary family plus the equivariance may keep its timbre split and gain the precise axis",
        "+ adversary, freq-conv, private rate 1.5, transposition equivariance"),
    "transposition-freqconv-60-epochs": Family(
        {"transposition": 5000.0, "arch": "freqconv", "epochs": 60},
        "with the equivariance and the frequency-conv encoder the swaps keep timbre less often than the targets ask "
        "mainly at the top classes, where plain reconstructions lose timbre too and the private donor's timbre seldom "
        "comes through: the decoder's fidelity, not the split, sets the limit there, and the validation loss was still "
        "falling at the 30th epoch, so twice the epochs may sharpen the decoder",
        "+ transposition equivariance, freq-conv encoder, 60 epochs"),
    "transposition-freqconv-60-epochs-all": Family(
        {"transposition": 5000.0, "arch": "freqconv", "epochs": 60, "patience": 0},
        "in the 60-epoch family the two seeds that trained past epoch 45 kept timbre in more swaps than the seed that "
        "early stopping ended at epoch 35; the validation total it watches is dominated by the equivariance and rate "
        "terms, so it may stop while the decoder still improves: all 60 epochs, no early stopping",
        "+ transposition equivariance, freq-conv encoder, 60 epochs, no early stopping"),
    "transposition-freqconv-60-epochs-all-private-rate-8": Family(
        {"transposition": 10000.0, "arch": "freqconv", "epochs": 60, "patience": 0, "rate_private": 8.0},
        "trained for all 60 epochs, the swaps keep timbre 94.5 % of the time against 96.5 % for plain reconstructions, and "
        "almost all of the gap is swaps that take the private donor's timbre (2 %): the private means still read timbre "
        "(MLP .75, chance .25); twice the private rate squeezes timbre out of the private code, and twice the "
        "equivariance weight keeps the pitch axis as precise as before, sqrt(8 / (2 x 10000)) = 0.02 octave",
        "+ transposition equivariance, freq-conv encoder, 60 epochs, no early stopping, private rate 8"),
    "transposition-freqconv-60-epochs-all-wide": Family(
        {"transposition": 5000.0, "arch": "freqconv", "epochs": 60, "patience": 0, "hidden": (512, 512)},
        "trained for all 60 epochs, the shared code still tells the timbre apart at every frequency class (MLP on "
        "posterior samples .98-1.00, the aliased classes 14-20 included), yet plain reconstructions of those classes "
        "are read as their own timbre only ~91 % of the time against 96 % for the real clips, and swaps 89 %: the decoder "
        "does not render the aliased partials that tell the waveforms apart there. Twice the width of the hidden "
        "layers (512 instead of 256; the encoder's widen too) gives the decoder the capacity for that detail",
        "+ transposition equivariance, freq-conv encoder, 60 epochs, no early stopping, 512-wide layers"),
    "transposition-freqconv-60-epochs-all-precise-axis": Family(
        {"transposition": 125000.0, "arch": "freqconv", "epochs": 60, "patience": 0},
        "at the aliased classes 14-20 reconstructions lose the square/sawtooth difference, which lives in a comb of folded "
        "partials whose places move k times faster than the pitch (harmonic k); a decoder trained on samples renders the "
        "average comb over the pitch axis's noise, sqrt(4 / (2 x 5000)) = 0.02 octave, and the real clips averaged over "
        "that much pitch noise are read right 93.8 % of the time there, 95.5 % at 0.005 octave: 25 times the equivariance "
        "weight cuts the noise to sqrt(4 / (2 x 125000)) = 0.004 octave, so the decoder can render more of the comb",
        "+ transposition equivariance, freq-conv encoder, 60 epochs, no early stopping, precise pitch axis"),
    "transposition-freqconv-60-epochs-all-precise-axis-fourier": Family(
        {"transposition": 125000.0, "arch": "freqconv", "epochs": 60, "patience": 0, "pitch_features": 16},
        "with a precise pitch axis the comb of folded partials is in the code, but each band of it flips between a partial "
        "and the floor every few thousandths of an octave of pitch, and an MLP learns slowly varying functions of its "
        "input first (spectral bias, Rahaman et al. 2019); sines and cosines of the pitch coordinate at 1 to 64 cycles per "
        "octave (Fourier features, Tancik et al. 2020) hand the decoder those fast variations, so it can render the comb",
        "+ transposition equivariance, freq-conv encoder, 60 epochs, no early stopping, precise pitch axis, Fourier pitch features"),
    "transposition-freqconv-60-epochs-all-fourier": Family(
        {"transposition": 5000.0, "arch": "freqconv", "epochs": 60, "patience": 0, "pitch_features": 16},
        "the Fourier features made the decoder follow pitch 15 times more, but on top of a 25-times equivariance weight that "
        "let timbre into the private code and diverged in one seed; chapter 7.6's converged ceiling shows the base's 0.02 "
        "octave of pitch noise costs the real clips no timbre, so the same features at the base's weight (5000) may let the "
        "decoder draw the comb averaged over that noise without the leak",
        "+ transposition equivariance, freq-conv encoder, 60 epochs, no early stopping, Fourier pitch features"),
    "transposition-freqconv-60-epochs-all-decoder-60": Family(
        {"transposition": 5000.0, "arch": "freqconv", "epochs": 60, "patience": 0, "decoder_epochs": 60},
        "chapter 7.6 finds the decoder, not the codes, losing the aliased timbre at classes 14-20, and in a pilot (seed 0) "
        "freezing the 60-epoch model's encoder and training its decoder 30 more epochs on the same objective lifted "
        "reconstructions there from .911 to .921 and swap timbre from .944 to .952, the reconstruction error still "
        "falling: with the encoder moving under it the decoder may never settle on the comb of folded partials. A "
        "decoder stage of 60 epochs keeps the codes, and so every probe, as they are",
        "+ transposition equivariance, freq-conv encoder, 60 epochs, no early stopping, 60 decoder epochs"),
    "transposition-freqconv-decoder-60": Family(
        {"transposition": 5000.0, "arch": "freqconv", "decoder_epochs": 60},
        "the same decoder stage on the recommended 30-epoch run instead of the 60-epoch one: its shared code too holds "
        "the timbre of the aliased classes that its reconstructions lose (chapter 7.6), and if the stage closes the gap "
        "there, the recommendation changes by a decoder stage alone, its codes, and so every probe, unchanged",
        "+ transposition equivariance, freq-conv encoder, 60 decoder epochs"),
    "transposition-freqconv-60-epochs-all-decoder-120": Family(
        {"transposition": 5000.0, "arch": "freqconv", "epochs": 60, "patience": 0, "decoder_epochs": 120},
        "the 60-epoch decoder stage met both swap targets, and its validation loss was still falling at the end (best "
        "epochs 119, 111 and 120 of 120): twice the decoder epochs may keep more timbre at the aliased classes, the codes "
        "unchanged again",
        "+ transposition equivariance, freq-conv encoder, 60 epochs, no early stopping, 120 decoder epochs"),
    "transposition-freqconv-60-epochs-all-decoder-60-means": Family(
        {"transposition": 5000.0, "arch": "freqconv", "epochs": 60, "patience": 0, "decoder_epochs": 60,
         "decoder_codes": "mean"},
        "swaps and reconstructions decode posterior means, but the decoder, its stage included, learns on posterior "
        "samples, whose noise is large (median posterior sd about 0.5 in both codes against 1 for the prior): it learns "
        "to draw the average over that noise, a comb of folded partials smoothed towards the sawtooth's floor, which is "
        "how squares are misread at the aliased classes (chapter 7.6). A decoder stage on the means learns the codes it "
        "is judged on, the codes and every probe unchanged",
        "+ transposition equivariance, freq-conv encoder, 60 epochs, no early stopping, 60 decoder epochs on means"),
    "transposition-freqconv-60-epochs-all-decoder-60-swap-consistency": Family(
        {"transposition": 5000.0, "arch": "freqconv", "epochs": 60, "patience": 0, "decoder_epochs": 60,
         "swap_consistency": 1.0},
        "after the decoder stage the swaps that lose the shared donor's timbre are mostly squares of the aliased classes, "
        "whose plain reconstructions are misread too (18-20/square: 50-76 % against 89-95 % for the real clips) while the "
        "shared code tells the timbre apart there; the squared error weighs the faint folded partials that tell a square "
        "from a sawtooth little, and the frozen encoder reads the decoder's outputs poorly (a swap's shared sample costs "
        "about 55 nats under the posterior of the re-encoded swap against 2 for a real clip). Asking the frozen encoder to "
        "read each swap's shared sample back (InfoGAN's latent term, weight 1 nat) prices what the shared code reads as "
        "timbre, with whatever private code it is decoded, the codes and every probe unchanged",
        "+ transposition equivariance, freq-conv encoder, 60 epochs, no early stopping, 60 decoder epochs, swap consistency"),
    "transposition-freqconv-60-epochs-all-decoder-60-swap-consistency-pitch": Family(
        {"transposition": 5000.0, "arch": "freqconv", "epochs": 60, "patience": 0, "decoder_epochs": 60,
         "swap_consistency": 1.0, "swap_pitch_consistency": 1.0},
        "swap consistency lifted swap timbre in every seed but lowered swap pitch in two (0.977 -> 0.958, 0.958 -> 0.942) and "
        "moved the swaps away from the counterfactual's pitch in all three: it prices only what the shared code reads, so "
        "the decoder may trade the pitch detail for it. Asking the frozen encoder to read each swap's pitch coordinate back "
        "too (the first private coordinate, the transposition term's pitch axis, weight 1 nat; the other private "
        "dimensions left out, since they may hold the private donor's timbre) prices pitch the same way",
        "+ transposition equivariance, freq-conv encoder, 60 epochs, no early stopping, 60 decoder epochs, swap consistency "
        "with pitch"),
}
#: Data controls: the base configuration, unchanged, on a variant of the tone set (identifier, also
#: its results folder -> ToneConfig overrides, hypothesis, label). They separate what is the model's fault from what is the data's.
DATA_CONTROLS: dict[str, Family] = {
    "band-limited-tones": Family(
        {"synthesis": "bandlimited"},
        "without aliasing a tone's loudest partials are its harmonics, so pitch is easy to keep; but above ~2.7 kHz a "
        "band-limited square or sawtooth keeps only one or two harmonics, so timbre itself fades there",
        "band-limited tones"),
}
