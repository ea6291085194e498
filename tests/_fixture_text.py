"""Real multilingual text for the offline fixtures (_fixtures.py): one small parallel bank per language.

Per language: an NLI premise with entailed / neutral / contradicting hypotheses, a two-sentence QA
context with two (question, answer) pairs whose answers occur verbatim in the context, one UPOS-
tagged and one NER-tagged sentence (pre-split words), covering Latin, Cyrillic, CJK, Thai (no
spaces between words), Arabic (right-to-left) and Devanagari scripts.
"""

from __future__ import annotations

BANK: dict[str, dict] = {
    "en": dict(
        premise="A man is playing a guitar on the street.",
        entail="A man is making music outdoors.",
        neutral="The man is a famous musician.",
        contra="Nobody is playing an instrument.",
        context="Berlin is the capital of Germany. The city has about 3.7 million inhabitants.",
        qa=[("What is the capital of Germany?", "Berlin"),
            ("How many inhabitants does Berlin have?", "3.7 million")],
        pos=[("The", "DET"), ("man", "NOUN"), ("plays", "VERB"), ("the", "DET"),
             ("guitar", "NOUN"), (".", "PUNCT")],
        ner=[("Angela", "B-PER"), ("Merkel", "I-PER"), ("visited", "O"), ("Paris", "B-LOC"),
             ("and", "O"), ("Siemens", "B-ORG"), (".", "O")]),
    "de": dict(
        premise="Ein Mann spielt auf der Straße Gitarre.",
        entail="Ein Mann macht draußen Musik.",
        neutral="Der Mann ist ein berühmter Musiker.",
        contra="Niemand spielt ein Instrument.",
        context="Berlin ist die Hauptstadt Deutschlands. Die Stadt hat etwa 3,7 Millionen Einwohner.",
        qa=[("Was ist die Hauptstadt Deutschlands?", "Berlin"),
            ("Wie viele Einwohner hat Berlin?", "3,7 Millionen")],
        pos=[("Der", "DET"), ("Mann", "NOUN"), ("spielt", "VERB"), ("Gitarre", "NOUN"),
             (".", "PUNCT")],
        ner=[("Angela", "B-PER"), ("Merkel", "I-PER"), ("besuchte", "O"), ("Paris", "B-LOC"),
             ("und", "O"), ("Siemens", "B-ORG"), (".", "O")]),
    "ru": dict(
        premise="Мужчина играет на гитаре на улице.",
        entail="Мужчина играет музыку на открытом воздухе.",
        neutral="Этот мужчина — известный музыкант.",
        contra="Никто не играет на инструменте.",
        context="Берлин — столица Германии. В городе проживает около 3,7 миллиона человек.",
        qa=[("Какой город является столицей Германии?", "Берлин"),
            ("Сколько человек проживает в Берлине?", "3,7 миллиона")],
        pos=[("Мужчина", "NOUN"), ("играет", "VERB"), ("на", "ADP"), ("гитаре", "NOUN"),
             (".", "PUNCT")],
        ner=[("Ангела", "B-PER"), ("Меркель", "I-PER"), ("посетила", "O"), ("Париж", "B-LOC"),
             (".", "O")]),
    "zh": dict(
        premise="一个男人在街上弹吉他。",
        entail="一个男人在户外演奏音乐。",
        neutral="这个男人是一位著名的音乐家。",
        contra="没有人在演奏乐器。",
        context="柏林是德国的首都。这座城市约有370万居民。",
        qa=[("德国的首都是哪里？", "柏林"), ("柏林有多少居民？", "370万")],
        pos=[("男人", "NOUN"), ("在", "ADP"), ("街上", "NOUN"), ("弹", "VERB"), ("吉他", "NOUN"),
             ("。", "PUNCT")],
        ner=[("默克尔", "B-PER"), ("访问", "O"), ("了", "O"), ("巴黎", "B-LOC"), ("。", "O")]),
    "th": dict(
        premise="ผู้ชายคนหนึ่งกำลังเล่นกีตาร์อยู่บนถนน",
        entail="ผู้ชายคนหนึ่งกำลังเล่นดนตรีกลางแจ้ง",
        neutral="ผู้ชายคนนั้นเป็นนักดนตรีที่มีชื่อเสียง",
        contra="ไม่มีใครเล่นเครื่องดนตรี",
        context="เบอร์ลินเป็นเมืองหลวงของประเทศเยอรมนี เมืองนี้มีประชากรประมาณ 3.7 ล้านคน",
        qa=[("เมืองหลวงของประเทศเยอรมนีคือเมืองอะไร", "เบอร์ลิน"),
            ("เบอร์ลินมีประชากรกี่คน", "3.7 ล้านคน")],
        pos=[("ผู้ชาย", "NOUN"), ("เล่น", "VERB"), ("กีตาร์", "NOUN")],
        ner=[("อังเกลา", "B-PER"), ("แมร์เคิล", "I-PER"), ("เยือน", "O"), ("ปารีส", "B-LOC")]),
    "ar": dict(
        premise="رجل يعزف على الغيتار في الشارع.",
        entail="رجل يعزف الموسيقى في الهواء الطلق.",
        neutral="الرجل موسيقي مشهور.",
        contra="لا أحد يعزف على آلة موسيقية.",
        context="برلين هي عاصمة ألمانيا. يبلغ عدد سكان المدينة حوالي 3.7 مليون نسمة.",
        qa=[("ما هي عاصمة ألمانيا؟", "برلين"), ("كم عدد سكان برلين؟", "3.7 مليون نسمة")],
        pos=[("الرجل", "NOUN"), ("يعزف", "VERB"), ("على", "ADP"), ("الغيتار", "NOUN"),
             (".", "PUNCT")],
        ner=[("زارت", "O"), ("أنجيلا", "B-PER"), ("ميركل", "I-PER"), ("باريس", "B-LOC"),
             (".", "O")]),
    "hi": dict(
        premise="एक आदमी सड़क पर गिटार बजा रहा है।",
        entail="एक आदमी बाहर संगीत बजा रहा है।",
        neutral="वह आदमी एक प्रसिद्ध संगीतकार है।",
        contra="कोई भी वाद्य यंत्र नहीं बजा रहा है।",
        context="बर्लिन जर्मनी की राजधानी है। इस शहर में लगभग 37 लाख लोग रहते हैं।",
        qa=[("जर्मनी की राजधानी क्या है?", "बर्लिन"), ("बर्लिन में कितने लोग रहते हैं?", "37 लाख")],
        pos=[("आदमी", "NOUN"), ("गिटार", "NOUN"), ("बजाता", "VERB"), ("है", "AUX"),
             ("।", "PUNCT")],
        ner=[("एंजेला", "B-PER"), ("मर्केल", "I-PER"), ("ने", "O"), ("पेरिस", "B-LOC"),
             ("का", "O"), ("दौरा", "O"), ("किया", "O"), ("।", "O")]),
    "es": dict(
        premise="Un hombre toca la guitarra en la calle.",
        entail="Un hombre hace música al aire libre.",
        neutral="El hombre es un músico famoso.",
        contra="Nadie está tocando un instrumento.",
        context="Berlín es la capital de Alemania. La ciudad tiene unos 3,7 millones de habitantes.",
        qa=[("¿Cuál es la capital de Alemania?", "Berlín"),
            ("¿Cuántos habitantes tiene Berlín?", "3,7 millones")],
        pos=[("El", "DET"), ("hombre", "NOUN"), ("toca", "VERB"), ("la", "DET"),
             ("guitarra", "NOUN"), (".", "PUNCT")],
        ner=[("Angela", "B-PER"), ("Merkel", "I-PER"), ("visitó", "O"), ("París", "B-LOC"),
             (".", "O")]),
    "fr": dict(
        premise="Un homme joue de la guitare dans la rue.",
        entail="Un homme fait de la musique en plein air.",
        neutral="L'homme est un musicien célèbre.",
        contra="Personne ne joue d'un instrument.",
        context=("Berlin est la capitale de l'Allemagne. La ville compte environ 3,7 millions "
                 "d'habitants."),
        qa=[("Quelle est la capitale de l'Allemagne ?", "Berlin"),
            ("Combien d'habitants compte Berlin ?", "3,7 millions")],
        pos=[("L'", "DET"), ("homme", "NOUN"), ("joue", "VERB"), ("de", "ADP"), ("la", "DET"),
             ("guitare", "NOUN"), (".", "PUNCT")],
        ner=[("Angela", "B-PER"), ("Merkel", "I-PER"), ("a", "O"), ("visité", "O"),
             ("Paris", "B-LOC"), (".", "O")]),
}
LANGUAGES = tuple(BANK)

# Extra English-only material for the intermediate tasks and English training splits.
EN_NLI_EXTRA = [
    ("Two children are reading books in a library.", "Kids are reading.", "entailment"),
    ("Two children are reading books in a library.", "The children are playing football.",
     "contradiction"),
    ("A woman is cooking dinner in the kitchen.", "She is cooking for her family.", "neutral"),
]
EN_QUESTION_PAIRS = [
    ("How do I learn Python quickly?", "What is the fastest way to learn Python?", 1),
    ("How do I learn Python quickly?", "Why is the sky blue?", 0),
    ("What is the best way to lose weight?", "How can I lose weight fast?", 1),
]
EN_POS_EXTRA = [
    [("She", "PRON"), ("reads", "VERB"), ("two", "NUM"), ("old", "ADJ"), ("books", "NOUN"),
     ("quickly", "ADV"), (".", "PUNCT")],
    [("Paris", "PROPN"), ("and", "CCONJ"), ("Berlin", "PROPN"), ("are", "AUX"), ("big", "ADJ"),
     (".", "PUNCT")],
]
EN_NER_EXTRA = [
    [("Google", "B-ORG"), ("opened", "O"), ("an", "O"), ("office", "O"), ("in", "O"),
     ("New", "B-LOC"), ("York", "I-LOC"), (".", "O")],
    [("Barack", "B-PER"), ("Obama", "I-PER"), ("met", "O"), ("the", "O"), ("United", "B-ORG"),
     ("Nations", "I-ORG"), (".", "O")],
]
EN_UNRELATED = "The weather is nice today."

# COPA-style items (premise, relation, choice1, choice2, label) for copa (English) and xcopa (zh,
# th: the XCOPA languages the bank has). The relation stays English, as in XCOPA's rows; the two
# items cover both relations and both labels.
COPA: dict[str, list[tuple[str, str, str, str, int]]] = {
    "en": [("The man broke his toe.", "cause", "He dropped a hammer on his foot.",
            "He got a hole in his sock.", 0),
           ("The glass fell off the table.", "effect", "It was full of water.",
            "It shattered on the floor.", 1)],
    "zh": [("这个男人的脚趾骨折了。", "cause", "他把锤子掉在了脚上。", "他的袜子破了一个洞。", 0),
           ("杯子从桌子上掉了下来。", "effect", "杯子里装满了水。", "杯子在地板上摔碎了。", 1)],
    "th": [("ผู้ชายคนนั้นนิ้วเท้าหัก", "cause", "เขาทำค้อนหล่นใส่เท้า", "ถุงเท้าของเขามีรู", 0),
           ("แก้วตกจากโต๊ะ", "effect", "แก้วมีน้ำเต็ม", "แก้วแตกกระจายบนพื้น", 1)],
}

# NER sentences for XTREME-R's added PAN-X languages (panx_r only; these languages have no other
# bank entries): Latin with diacritics (pl, ro), Cyrillic (uk) and Gurmukhi (pa).
NER_ONLY: dict[str, list[tuple[str, str]]] = {
    "pl": [("Angela", "B-PER"), ("Merkel", "I-PER"), ("odwiedziła", "O"), ("Paryż", "B-LOC"),
           ("i", "O"), ("Siemensa", "B-ORG"), (".", "O")],
    "uk": [("Ангела", "B-PER"), ("Меркель", "I-PER"), ("відвідала", "O"), ("Париж", "B-LOC"),
           (".", "O")],
    "ro": [("Angela", "B-PER"), ("Merkel", "I-PER"), ("a", "O"), ("vizitat", "O"),
           ("Parisul", "B-LOC"), (".", "O")],
    "pa": [("ਐਂਜਲਾ", "B-PER"), ("ਮਰਕਲ", "I-PER"), ("ਨੇ", "O"), ("ਪੈਰਿਸ", "B-LOC"), ("ਦਾ", "O"),
           ("ਦੌਰਾ", "O"), ("ਕੀਤਾ", "O"), ("।", "O")],
}

# Chinese passage for the translated-SQuAD *train* fixture. Train features are checked for exact
# answer spans, and the small offline test tokenizer merges runs of characters it never saw (the
# bank's zh context would put "柏林是德国" in one token); here both answers sit between common
# characters (在 / 的, 弹 / 。), so token boundaries fall on the answer edges.
SQUAD_TRANSLATED_ZH = dict(
    context="一个男人在柏林的街上弹吉他。路过的人都停下来听。",
    qa=[("男人在哪个城市弹吉他？", "柏林"), ("男人在街上弹什么乐器？", "吉他")])


# Extra fixture languages per task beyond BANK (XTREME-R's new PAN-X languages).
EXTRA_LANGUAGES: dict[str, tuple[str, ...]] = {"panx_r": tuple(NER_ONLY)}


def fixture_languages(task: str, split: str) -> tuple[str, ...]:
  """Languages for which fixtures exist for (task, split)."""
  from stilts_jax.tasks.registry import get_task
  extra = EXTRA_LANGUAGES.get(task, ())
  return tuple(l for l in get_task(task).languages_for(split) if l in BANK or l in extra)


def _nli_rows(lang: str) -> list[tuple[str, str, str]]:
  b = BANK[lang]
  return [(b["premise"], b["entail"], "entailment"), (b["premise"], b["neutral"], "neutral"),
          (b["premise"], b["contra"], "contradiction")]


def _qa_rows(lang: str, prefix: str = "", question_lang: str | None = None) -> list[dict]:
  b, q = BANK[lang], BANK[question_lang or lang]
  rows = []
  for k, ((_, answer), (question, _)) in enumerate(zip(b["qa"], q["qa"])):
    start = b["context"].index(answer)
    rows.append({"id": f"{prefix}{lang}-{question_lang or lang}-{k}", "title": "Berlin",
                 "context": b["context"], "question": question,
                 "answers": {"text": [answer], "answer_start": [start]}})
  return rows
