"""Offline language tables for analyses 3 and 5: URIEL distances from English and CC-100 sizes.

URIEL distances (Littell et al. 2017, "URIEL and lang2vec"), computed offline by
`typology.distance_table_from_lang2vec` from the data files bundled in the PyPI wheel
`lang2vec==1.1.2` (its `data/` folder; the package needs no download, but its import uses
`pkg_resources`, absent from current setuptools, so the files are read with numpy and the result is
frozen here). Each value is the cosine distance (1 - cos) between the language's URIEL vector and
English's ("eng"):
  syntactic    lang2vec `syntax_knn` (WALS/SSWL/Ethnologue syntax features, kNN-imputed)
  genetic      `fam` (Glottolog family/clade membership); 1.0 = no shared clade (isolates too)
  geographic   `geo` (proximity to 299 fixed points on the globe)
  phonological `phonology_knn`
  inventory    `inventory_knn` (PHOIBLE/Ethnologue phoneme inventories, kNN-imputed)
These follow lang2vec's definitions of its feature sets; URIEL's own precomputed genetic and
geographic distances (tree path length; great-circle distance) are not in the 1.1.2 wheel (later
lang2vec versions download them at run time, impossible offline), so those two are vector
proxies: a monotone but not linear match for geography. URIEL+ (`urielplus`) computes its
distances the same way (angular or cosine distance over these vectors).

CC-100 sizes: XLM-R paper (Conneau et al. 2020, "Unsupervised Cross-lingual Representation Learning
at Scale", Appendix A, Table 6: tokens in millions and uncompressed size in GiB per language).
Chinese = Simplified + Traditional rows, Burmese = both of its rows (Unicode and Zawgyi encodings)
summed. Yoruba is not among XLM-R's 100 pretraining languages: size 0.
"""

DISTANCE_KINDS = ("syntactic", "genetic", "geographic", "phonological", "inventory")

# ISO 639-1 (XTREME) -> ISO 639-3 code looked up in URIEL (lang2vec's letter_codes.json).
ISO639_3 = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "en": "eng",
    "es": "spa", "et": "est", "eu": "eus", "fa": "fas", "fi": "fin", "fr": "fra", "he": "heb",
    "hi": "hin", "hu": "hun", "id": "ind", "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat",
    "kk": "kaz", "ko": "kor", "ml": "mal", "mr": "mar", "ms": "msa", "my": "mya", "nl": "nld",
    "pt": "por", "ru": "rus", "sw": "swa", "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl",
    "tr": "tur", "ur": "urd", "vi": "vie", "yo": "yor", "zh": "zho",
}

# language: (syntactic, genetic, geographic, phonological, inventory)
_DISTANCE_ROWS = {
    "af": (0.1506, 0.4960, 0.1316, 0.1818, 0.3091),
    "ar": (0.3490, 1.0000, 0.0296, 0.2994, 0.2919),
    "bg": (0.1422, 0.8639, 0.0099, 0.1419, 0.3162),
    "bn": (0.4166, 0.8740, 0.1104, 0.2372, 0.2563),
    "de": (0.0975, 0.4557, 0.0024, 0.1942, 0.2372),
    "el": (0.2169, 0.8509, 0.0105, 0.0465, 0.3525),
    "en": (0.0000, 0.0000, 0.0000, 0.0000, 0.0000),
    "es": (0.1784, 0.9038, 0.0041, 0.1419, 0.3618),
    "et": (0.2266, 1.0000, 0.0055, 0.1419, 0.3307),
    "eu": (0.3765, 1.0000, 0.0024, 0.1472, 0.4313),
    "fa": (0.4998, 0.8639, 0.0577, 0.2167, 0.2718),
    "fi": (0.2892, 1.0000, 0.0081, 0.1296, 0.3000),
    "fr": (0.1882, 0.9038, 0.0007, 0.2474, 0.2591),
    "he": (0.2486, 1.0000, 0.0284, 0.2748, 0.3564),
    "hi": (0.3838, 0.8740, 0.0890, 0.2167, 0.2909),
    "hu": (0.3060, 1.0000, 0.0054, 0.1419, 0.2597),
    "id": (0.2735, 1.0000, 0.2084, 0.0909, 0.2443),
    "it": (0.1422, 0.8889, 0.0047, 0.1419, 0.3000),
    "ja": (0.4998, 1.0000, 0.1435, 0.3326, 0.3461),
    "jv": (0.3989, 1.0000, 0.1958, 0.2538, 0.2685),
    "ka": (0.3151, 1.0000, 0.0291, 0.3310, 0.3707),
    "kk": (0.5525, 1.0000, 0.0478, 0.1638, 0.2803),
    "ko": (0.4472, 1.0000, 0.1307, 0.2538, 0.2906),
    "ml": (0.4643, 1.0000, 0.1192, 0.1472, 0.3014),
    "mr": (0.4352, 0.8639, 0.1021, 0.1960, 0.2410),
    "ms": (0.2951, 1.0000, 0.1951, 0.0909, 0.2751),
    "my": (0.6051, 1.0000, 0.1230, 0.1136, 0.1346),
    "nl": (0.0757, 0.5556, 0.0004, 0.1818, 0.2777),
    "pt": (0.1576, 0.8995, 0.0032, 0.0955, 0.2133),
    "ru": (0.1882, 0.8333, 0.0419, 0.1419, 0.3525),
    "sw": (0.5405, 1.0000, 0.0850, 0.0909, 0.2419),
    "ta": (0.4865, 1.0000, 0.1205, 0.1472, 0.3420),
    "te": (0.4794, 1.0000, 0.1082, 0.1960, 0.3292),
    "th": (0.3606, 1.0000, 0.1475, 0.2167, 0.2510),
    "tl": (0.3912, 1.0000, 0.1786, 0.1419, 0.2707),
    "tr": (0.4933, 1.0000, 0.0175, 0.1818, 0.3342),
    "ur": (0.3838, 0.8740, 0.0746, 0.1419, 0.2844),
    "vi": (0.3397, 1.0000, 0.1475, 0.2167, 0.2526),
    "yo": (0.3997, 1.0000, 0.0502, 0.3326, 0.2934),
    "zh": (0.2892, 1.0000, 0.1158, 0.2748, 0.3027),
}
DISTANCES_FROM_ENGLISH = {l: dict(zip(DISTANCE_KINDS, v)) for l, v in _DISTANCE_ROWS.items()}

# language: (CC-100 tokens in millions, uncompressed size in GiB)
CC100 = {
    "af": (242, 1.3), "ar": (2869, 28.0), "bg": (5487, 57.5), "bn": (525, 8.4),
    "de": (10297, 66.6), "el": (4285, 46.9), "en": (55608, 300.8), "es": (9374, 53.3),
    "et": (843, 6.1), "eu": (270, 2.0), "fa": (13259, 111.6), "fi": (6730, 54.3),
    "fr": (9780, 56.8), "he": (3399, 31.6), "hi": (1715, 20.2), "hu": (7807, 58.4),
    "id": (22704, 148.3), "it": (4983, 30.2), "ja": (530, 69.3), "jv": (24, 0.2),
    "ka": (469, 9.1), "kk": (476, 6.4), "ko": (5644, 54.2), "ml": (313, 7.6),
    "mr": (175, 2.8), "ms": (1318, 8.5), "my": (71, 2.0), "nl": (5025, 29.3),
    "pt": (8405, 49.1), "ru": (23408, 278.0), "sw": (275, 1.6), "ta": (595, 12.2),
    "te": (249, 4.7), "th": (1834, 71.7), "tl": (556, 3.1), "tr": (2736, 20.9),
    "ur": (730, 5.7), "vi": (24757, 137.3), "yo": (0, 0.0), "zh": (435, 63.5),
}
