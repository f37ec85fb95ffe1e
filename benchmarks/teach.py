"""Teach areas from annotations on sections of one brain, map them on other brains.

Annotations: for each of ``--areas`` on two sections of brain ``--brain`` (two virtual
sections of the same individual: the same seed, slides of different sizes, so the
folding differs), the outline of the area's largest piece of cortex, written as QuPath
GeoJSON with the area as its class and read back with
:func:`cytowords.teach.annotations_from_geojson`. :func:`cytowords.teach.teach` fits the
model (timed); :func:`cytowords.mapping.compute_area_map` maps whole sections of
``--test-brains`` with the saved bundle. Scored per map tile whose centre lies in the
cortex (synthetic truth): accuracy over tiles of the taught areas (named right and
accepted) and the share of tiles of every other area called "other" (rejected).

    OMP_NUM_THREADS=2 nice -n 10 python benchmarks/teach.py --brain 301 --test-brains 302 303 304

``--diagnose`` also compares "other" rules on the same tiles (each calibrated on the
held-out sections to keep :data:`~cytowords.teach.fit.IN_CLASS_ACCEPT` of held-out taught
fields; the naming is the taught model's; tiles the map rejects for no cortex stay
rejected): the cosine and the Euclidean distance to the nearest taught field, the
Mahalanobis distance ratio with its cap (2 x the held-out distance) and the Mahalanobis
distance to the nearest mean; and prints the quantiles of those distances for held-out
taught fields, tiles of taught areas and tiles of other areas (the fields are read a
second time: slower).

``--diagnose-norm`` tests per-section normalisation of the embeddings (a domain-adaptation
step like per-slide stain normalisation): each section's embeddings (the taught fields of a
teaching section, the map tiles of a test section) are centred — and scaled or whitened —
by statistics of all tiles of that section that the cortex detector reads as cortex
(every area, not only the named ones; the teaching sections are mapped for that), then the
discriminant, its held-out calibration and the rules above (distance ratio + cap, cosine to
the nearest field, Mahalanobis to the nearest mean) are refitted on the normalised features.
Prints taught accuracy / other for each normalisation and rule, the ROC AUC of taught vs
other tiles per test brain, and how far section means and area means move between sections
and brains (squared Mahalanobis distance under the final model's metric) with the share of
the tiles' variance between sections and between areas.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage import measure

from cytowords.synth import virtual_section
from cytowords.synth.truth import truth_at
from cytowords.teach import annotations_from_geojson, save_taught, teach

SECTION_SIZES_MM = [(80, 60), (76, 58)]
LABEL_LEVEL_UM = 64.0


def area_outlines(section, areas: list[str]) -> dict:
    """QuPath GeoJSON (full-resolution pixels) with the outline of each area's largest
    piece of cortex, classified by the area id."""
    lab = section.labels["areas"]
    k = int(np.argmin([abs(p - LABEL_LEVEL_UM) for p in lab.pixel_size_um]))
    p = lab.pixel_size_um[k]
    img = np.asarray(lab.levels[k].compute())
    px0 = section.pixel_size_um[0]
    label_of = {a: v for v, a in lab.names.items()}
    feats = []
    for a in areas:
        comp, n = ndi.label(img == label_of[a])
        if n == 0:
            continue
        big = comp == (np.argmax(np.bincount(comp.ravel())[1:]) + 1)
        contour = max(measure.find_contours(np.pad(big, 1).astype(float), 0.5), key=len)[::2]
        xy = [[(c - 1 + 0.5) * p / px0, (r - 1 + 0.5) * p / px0] for r, c in contour]
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [xy + [xy[0]]]},
                "properties": {"objectType": "annotation", "classification": {"name": a}},
            }
        )
    return {"type": "FeatureCollection", "features": feats}


class _Diagnosis:
    """``--diagnose``: the "other" rules compared on the map tiles (see the module doc)."""

    RULES = (
        "cosine to nearest field",
        "euclidean to nearest field",
        "distance ratio + cap",
        "mahalanobis to nearest mean",
    )

    def __init__(self, taught, sections, anns) -> None:
        from cytowords.teach.fit import IN_CLASS_ACCEPT, _folds, collect_fields, fit_discriminant

        self.taught, self.q = taught, IN_CLASS_ACCEPT
        fs = collect_fields(taught.base, sections, anns, taught.names, views=taught.views)
        self.X, self.y = fs.X, fs.y
        groups, _ = _folds(fs)
        ho = {k: [] for k in ("cos", "euc", "ratio", "d2")}
        for g in np.unique(groups):
            tr = groups != g
            _, sc = fit_discriminant(fs.X[tr], fs.y[tr], len(fs.names), taught.shrinkage)
            for k, v in self._scores(fs.X[~tr], fs.X[tr], sc).items():
                ho[k].append(v)
        self.ho = {k: np.concatenate(v) for k, v in ho.items()}
        _, self.sc = fit_discriminant(fs.X, fs.y, len(fs.names), taught.shrinkage)
        q = self.q
        self.thr = {k: float(np.quantile(v, q)) for k, v in self.ho.items()}
        self.cap = 2.0 * self.thr["d2"]
        self.counts = {r: [0, 0, 0, 0] for r in self.RULES}
        self.tiles = {"taught": {k: [] for k in ho}, "other": {k: [] for k in ho}}

    @staticmethod
    def _scores(E, Xtr, sc) -> dict:
        import torch

        with torch.no_grad():
            d2 = sc.class_distances(torch.from_numpy(E).float()).numpy()
        two = np.sort(d2, 1)[:, :2]
        u = E / np.linalg.norm(E, axis=1, keepdims=True)
        v = Xtr / np.linalg.norm(Xtr, axis=1, keepdims=True)
        euc = np.sqrt(np.maximum(((E[:, None] - Xtr[None]) ** 2).sum(-1), 0)).min(1)
        return {
            "cos": 1 - (u @ v.T).max(1),
            "euc": euc,
            "ratio": two[:, 0] / two[:, 1],
            "d2": two[:, 0],
        }

    def add(self, E, area, inside, outside, pred, rej) -> None:
        s = self._scores(E, self.X, self.sc)
        t = self.thr
        # tiles the map rejects whatever the open-set rule (no cortex, unfit) stay rejected
        import torch

        with torch.no_grad():
            sc = self.taught.scorer
            own = (sc.score(torch.from_numpy(E).float()) > sc.threshold).numpy()
        base_rej = rej & ~own
        rules = {
            self.RULES[0]: s["cos"] > t["cos"],
            self.RULES[1]: s["euc"] > t["euc"],
            self.RULES[2]: (s["ratio"] > t["ratio"]) | (s["d2"] > self.cap),
            self.RULES[3]: s["d2"] > t["d2"],
        }
        right = pred == area
        for name, r in rules.items():
            r = r | base_rej
            c = self.counts[name]
            c[0] += int((inside & ~r & right).sum())
            c[1] += int(inside.sum())
            c[2] += int((outside & r).sum())
            c[3] += int(outside.sum())
        for k, v in s.items():
            self.tiles["taught"][k].append(v[inside])
            self.tiles["other"][k].append(v[outside])

    def report(self) -> None:
        print(f"'other' rules, each keeping {self.q:.0%} of held-out taught fields:")
        for name, (a, n, o, m) in self.counts.items():
            print(
                f"  {name:<28} taught areas {a / max(n, 1):.3f} ({a}/{n}); "
                f"other cortex called other {o / max(m, 1):.3f} ({o}/{m})"
            )
        print("  distances (q05 / q50 / q95): held-out taught fields | taught tiles | other tiles")
        for k in ("cos", "euc", "ratio", "d2"):
            qs = [np.quantile(self.ho[k], [0.05, 0.5, 0.95])] + [
                np.quantile(np.concatenate(self.tiles[w][k]), [0.05, 0.5, 0.95])
                for w in ("taught", "other")
            ]
            print(f"  {k:<5} " + " | ".join(" / ".join(f"{x:.3g}" for x in q) for q in qs))
        print("  (d2: held-out fields against the fold models, tiles against the final model)")


def tile_embeddings(sec, taught, centres) -> np.ndarray:
    """Embeddings ``(N, D)`` float64 of the map tiles centred on ``centres`` (µm)."""
    from cytowords.mapping.dense import read_region_fields

    b = taught.base
    rf = read_region_fields(sec, b, centres)
    emb = rf.emb if rf.emb is not None else b.embed(rf.patches, views=taught.views)
    return np.asarray(emb, dtype=np.float64)


def map_tiles(sec, bundle: str, device: str):
    """Map ``sec`` with ``bundle``: the map, its tiles' centres (µm) and rejection codes."""
    from cytowords.mapping import compute_area_map

    amap = compute_area_map(sec, bundle, device=device, scheduler="sync")
    rows, cols = np.nonzero(amap.labels > 0)
    centres = np.array(amap.origin_um) + (np.stack([rows, cols], 1) + 0.5) * amap.pixel_size_um
    return amap, rows, cols, centres, amap.rejection_codes()[rows, cols]


def section_norm(E: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """``(centre (D,), transform)`` of one section's cortex tiles ``E`` ``(N, D)``: kind
    ``none``, ``mean``, ``median`` (centre only; transform ones), ``mean+scale`` (divide by
    the per-dimension SD) or ``whiten`` (a ``(D, D)`` matrix: the inverse square root of
    the Ledoit–Wolf covariance of the section's tiles)."""
    d = E.shape[1]
    if kind == "none":
        return np.zeros(d), np.ones(d)
    if kind == "median":
        return np.median(E, 0), np.ones(d)
    mu = E.mean(0)
    if kind == "mean":
        return mu, np.ones(d)
    if kind == "mean+scale":
        sd = E.std(0)
        return mu, 1.0 / np.maximum(sd, 1e-6 * sd.max())
    from sklearn.covariance import ledoit_wolf

    w, u = np.linalg.eigh(ledoit_wolf(E - mu)[0])
    return mu, (u * np.maximum(w, 1e-12) ** -0.5) @ u.T


def apply_norm(E: np.ndarray, norm: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    mu, t = norm
    return (E - mu) @ t if t.ndim == 2 else (E - mu) * t


class _NormDiagnosis:
    """``--diagnose-norm``: per-section normalisation (see the module doc)."""

    KINDS = ("none", "mean", "median", "mean+scale", "whiten")
    RULES = ("distance ratio + cap", "cosine to nearest field", "mahalanobis to nearest mean")

    def __init__(self, taught, sections, anns, bundle: str, device: str) -> None:
        from cytowords.synth.truth import truth_at
        from cytowords.teach.fit import collect_fields

        self.taught = taught
        self.fs = collect_fields(taught.base, sections, anns, taught.names, views=taught.views)
        # every cortex tile of each teaching section: its statistics, and its areas
        self.sections = []
        for sec in sections:
            _, _, _, centres, code = map_tiles(sec, bundle, device)
            keep = code != 2  # the cortex detector's cortex
            E = tile_embeddings(sec, taught, centres[keep])
            self.sections.append((E, truth_at(sec, centres[keep])["area"]))
        self.tests = []

    def add(self, brain, E, code, area, inside, outside) -> None:
        self.tests.append((brain, E, code != 2, area, inside, outside))

    def _fit(self, kind):
        from cytowords.teach.fit import IN_CLASS_ACCEPT, _folds, fit_discriminant

        fs, t = self.fs, self.taught
        norms = [section_norm(E, kind) for E, _ in self.sections]
        X = np.empty_like(fs.X)
        for k, nm in enumerate(norms):
            X[fs.section == k] = apply_norm(fs.X[fs.section == k], nm)
        groups, _ = _folds(fs)
        ho = {k: [] for k in ("cos", "ratio", "d2")}
        for g in np.unique(groups):
            tr = groups != g
            _, sc = fit_discriminant(X[tr], fs.y[tr], len(fs.names), t.shrinkage)
            for k, v in _Diagnosis._scores(X[~tr], X[tr], sc).items():
                if k in ho:
                    ho[k].append(v)
        thr = {k: float(np.quantile(np.concatenate(v), IN_CLASS_ACCEPT)) for k, v in ho.items()}
        _, sc = fit_discriminant(X, fs.y, len(fs.names), t.shrinkage)
        return X, sc, thr

    def report(self) -> None:
        import torch
        from sklearn.metrics import roc_auc_score

        names = np.array(self.taught.names)
        print(
            "per-section normalisation (statistics of each section's cortex tiles); "
            "taught areas / other cortex called other; AUC taught vs other per test brain:"
        )
        for kind in self.KINDS:
            X, sc, thr = self._fit(kind)
            counts = {r: [0, 0, 0, 0] for r in self.RULES}
            aucs = []
            for _, E, cortex, area, inside, outside in self.tests:
                En = apply_norm(E, section_norm(E[cortex], kind))
                s = _Diagnosis._scores(En, X, sc)
                with torch.no_grad():
                    d2 = sc.class_distances(torch.from_numpy(En).float()).numpy()
                pred = names[d2.argmin(1)]
                rules = (
                    (s["ratio"] > thr["ratio"]) | (s["d2"] > 2.0 * thr["d2"]),
                    s["cos"] > thr["cos"],
                    s["d2"] > thr["d2"],
                )
                for r, rej in zip(self.RULES, rules):
                    rej = rej | ~cortex  # no cortex stays rejected
                    c = counts[r]
                    c[0] += int((inside & ~rej & (pred == area)).sum())
                    c[1] += int(inside.sum())
                    c[2] += int((outside & rej).sum())
                    c[3] += int(outside.sum())
                ok = inside | outside
                aucs.append([roc_auc_score(outside[ok], s[k][ok]) for k in ("ratio", "d2", "cos")])
            line = "; ".join(
                f"{r.split()[0]} {a / max(n, 1):.3f}/{o / max(m, 1):.3f}"
                for r, (a, n, o, m) in counts.items()
            )
            auc = " ".join("/".join(f"{x:.2f}" for x in a) for a in aucs)
            print(f"  {kind:<11} {line}; AUC ratio/d2/cos {auc}")
        self._shifts()

    def _shifts(self) -> None:
        """How far section means and area means move (final raw model's metric)."""
        X, sc, _ = self._fit("none")
        P = sc.precision.numpy().astype(np.float64)
        fs = self.fs

        def m2(a, b):
            v = a - b
            return float(v @ P @ v)

        secs = [("teach0", *self.sections[0]), ("teach1", *self.sections[1])] + [
            (str(b), E[c], area[c]) for b, E, c, area, _, _ in self.tests
        ]
        mu = {k: E.mean(0) for k, E, _ in secs}
        between_sec = m2(mu["teach0"], mu["teach1"])
        to_test = [m2((mu["teach0"] + mu["teach1"]) / 2, mu[k]) for k, _, _ in secs[2:]]
        cls = sc.means.numpy().astype(np.float64)
        between_area = [m2(cls[i], cls[j]) for i in range(len(cls)) for j in range(i)]
        within = [
            m2(
                X[(fs.y == c) & (fs.section == 0)].mean(0),
                X[(fs.y == c) & (fs.section == 1)].mean(0),
            )
            for c in range(len(fs.names))
            if ((fs.y == c) & (fs.section == 0)).any() and ((fs.y == c) & (fs.section == 1)).any()
        ]
        across = []
        for _, E, _c, area, inside, _ in self.tests:
            for k, n in enumerate(fs.names):
                m = inside & (area == n)
                if m.sum() >= 3:
                    across.append(m2(E[m].mean(0), X[fs.y == k].mean(0)))
        print("  shifts (squared Mahalanobis, final model's metric; medians [min-max]):")
        print(
            f"    section means: teaching sections {between_sec:.0f}; teaching brain to test "
            f"brains {' '.join(f'{v:.0f}' for v in to_test)}"
        )
        print(
            f"    class means of different areas {np.median(between_area):.0f} "
            f"[{min(between_area):.0f}-{max(between_area):.0f}]; one area between the "
            f"teaching sections {np.median(within):.0f} [{min(within):.0f}-{max(within):.0f}]; "
            f"an area's tiles (>= 3) on a test brain to its fields {np.median(across):.0f} "
            f"[{min(across):.0f}-{max(across):.0f}]"
        )
        # variance of all cortex tiles of known area: between sections, between areas
        E = np.concatenate([e for _, e, _ in secs])
        sid = np.concatenate([np.full(len(e), i) for i, (_, e, _) in enumerate(secs)])
        area = np.concatenate([a for _, _, a in secs]).astype(str)
        known = area != ""
        E, sid, area = E[known], sid[known], area[known]
        tot = ((E - E.mean(0)) ** 2).sum()

        def share(g):
            return (
                sum(
                    (g == v).sum() * ((E[g == v].mean(0) - E.mean(0)) ** 2).sum()
                    for v in np.unique(g)
                )
                / tot
            )

        print(
            f"    variance of cortex tiles (Euclidean): between sections {share(sid):.0%}, "
            f"between areas {share(area):.0%}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brain", type=int, default=301)
    ap.add_argument("--test-brains", type=int, nargs="*", default=[302, 303, 304])
    ap.add_argument("--areas", nargs="+", default=["hOc1", "4p", "44", "7A", "Te1.0"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--views", type=int, default=None, help="views per field (default: base's)")
    ap.add_argument("--compare-profiles", action="store_true", help="also validate profiles")
    ap.add_argument("--diagnose", action="store_true", help="also compare 'other' rules")
    ap.add_argument(
        "--diagnose-norm", action="store_true", help="also test per-section normalisation"
    )
    args = ap.parse_args()
    import torch

    tmp = Path(tempfile.mkdtemp(prefix="teach-bench-"))
    sections, anns = [], []
    for i, size in enumerate(SECTION_SIZES_MM):
        sec = virtual_section(args.brain, size_mm=size)
        gj = tmp / f"section{i}.geojson"
        gj.write_text(json.dumps(area_outlines(sec, args.areas)), encoding="utf-8")
        a, _ = annotations_from_geojson(gj, i, sec.pixel_size_um[0])
        sections.append(sec)
        anns += a
    t0 = time.perf_counter()
    taught = teach(sections, anns, device=args.device, views=args.views)
    fit_s = time.perf_counter() - t0
    if args.compare_profiles:
        from cytowords.teach.profiles import profile_cv

        acc, n = profile_cv(sections, anns, taught.names)
        print(f"profile features (readout, whole regions): {acc:.0%} of {n} held-out regions")
    print(taught.cv.table())
    print(f"fitting: {fit_s:.1f} s on {torch.get_num_threads()} torch thread(s)")
    out = save_taught(taught, tmp / "taught")
    diag = _Diagnosis(taught, sections, anns) if args.diagnose else None
    ndiag = (
        _NormDiagnosis(taught, sections, anns, str(out), args.device)
        if args.diagnose_norm
        else None
    )
    right = n_in = other = n_out = 0
    for brain in args.test_brains:
        sec = virtual_section(brain)
        t1 = time.perf_counter()
        amap, rows, cols, centres, code = map_tiles(sec, str(out), args.device)
        truth = truth_at(sec, centres)
        cortex = (truth["rel_depth"] >= 0) & (truth["rel_depth"] < 1)
        table = {lab: aid for lab, (aid, _, _) in amap.area_table.items()}
        pred = np.array([table.get(int(v), "") for v in amap.labels[rows, cols]])
        rej = amap.rejected[rows, cols]
        inside = cortex & np.isin(truth["area"], args.areas)
        outside = cortex & ~np.isin(truth["area"], args.areas)
        r_b = int((inside & ~rej & (pred == truth["area"])).sum())
        o_b = int((outside & rej).sum())
        right, n_in, other, n_out = (
            right + r_b,
            n_in + int(inside.sum()),
            other + o_b,
            n_out + int(outside.sum()),
        )
        print(
            f"brain {brain}: taught areas {r_b}/{int(inside.sum())} tiles named right; "
            f"other cortex {o_b}/{int(outside.sum())} called other ({time.perf_counter() - t1:.0f} s)"
        )
        E = tile_embeddings(sec, taught, centres) if diag or ndiag else None
        if diag is not None:
            diag.add(E, truth["area"], inside, outside, pred, rej)
        if ndiag is not None:
            ndiag.add(brain, E, code, truth["area"], inside, outside)
    print(
        f"accuracy over the taught areas: {right / max(n_in, 1):.3f} ({right}/{n_in}); "
        f"other cortex called other: {other / max(n_out, 1):.3f} ({other}/{n_out}); "
        f"fitting {fit_s:.0f} s"
    )
    if diag is not None:
        diag.report()
    if ndiag is not None:
        ndiag.report()


if __name__ == "__main__":
    main()
