"""Hand-written word lists and sentence templates for the offline demo data (data.py).

Two kinds of material:

* Shared tokens, written identically in every language: first/last names, cities, companies and
  digits. They carry every task's label signal, so an English-trained model can transfer through
  them (the way real XLM-R transfer leans on shared names, numbers and sub-words).
* Per-language function words, verbs and nouns (en, de, es, fr and Cyrillic ru), translated by hand
  from one small English vocabulary, so the rest of each sentence is genuinely different text.

Grammar is simplified (one plural form per noun, cities never inflected; Russian keeps Latin-script
names as Russian news text does for foreign brands), which is fine for a pipeline demo.
"""

from __future__ import annotations

LANGUAGES = ("en", "de", "es", "fr", "ru")

FIRST_NAMES = ("Anna", "Maria", "Elena", "Laura", "Sofia", "Nina", "Clara", "Julia", "Lucas",
               "David", "Oscar", "Hugo", "Felix", "Adam", "Victor", "Omar")
LAST_NAMES = ("Berg", "Costa", "Novak", "Silva", "Moreau", "Weber", "Rossi", "Klein", "Lopez",
              "Meyer", "Kowalski", "Nilsen")
# Cities spelled the same in en/de/es/fr (no Paris/París, Vienna/Wien), some of two words.
CITIES = ("Berlin", "Madrid", "Oslo", "Lima", "Dublin", "Boston", "Chicago", "Toronto", "Sydney",
          "Nairobi", "Quito", "Denver", "Helsinki", "Buenos Aires", "Hong Kong", "Tel Aviv")
COMPANIES = ("Nokia", "Siemens", "Toyota", "Philips", "Ikea", "Adidas", "Bosch", "Lego",
             "Samsung", "Oracle", "Deutsche Bank", "General Motors", "Red Bull", "Air France")

# (verb, plural object) per language, aligned by index: the NLI/Tatoeba "actions".
ACTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (("buys", "books"), ("sells", "cars"), ("reads", "letters"), ("paints", "pictures"),
           ("finds", "keys"), ("orders", "pizzas"), ("writes", "songs"), ("cleans", "windows")),
    "de": (("kauft", "Bücher"), ("verkauft", "Autos"), ("liest", "Briefe"), ("malt", "Bilder"),
           ("findet", "Schlüssel"), ("bestellt", "Pizzen"), ("schreibt", "Lieder"),
           ("putzt", "Fenster")),
    "es": (("compra", "libros"), ("vende", "coches"), ("lee", "cartas"), ("pinta", "cuadros"),
           ("encuentra", "llaves"), ("pide", "pizzas"), ("escribe", "canciones"),
           ("limpia", "ventanas")),
    "fr": (("achète", "livres"), ("vend", "voitures"), ("lit", "lettres"), ("peint", "tableaux"),
           ("trouve", "clés"), ("commande", "pizzas"), ("écrit", "chansons"),
           ("nettoie", "fenêtres")),
    "ru": (("покупает", "книги"), ("продаёт", "машины"), ("читает", "письма"),
           ("рисует", "картины"), ("находит", "ключи"), ("заказывает", "пиццы"),
           ("пишет", "песни"), ("моет", "окна")),
}
# Preposition before a city ("in Berlin").
IN = {"en": "in", "de": "in", "es": "en", "fr": "à", "ru": "в"}

# NER sentence templates: words, with slots {PER} {ORG} {LOC} expanded to tagged entity words.
NER_TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": ("{PER} works for {ORG} in {LOC} .", "Yesterday {PER} visited {LOC} .",
           "{ORG} opened an office in {LOC} .", "The new manager of {ORG} is {PER} .",
           "{PER} and {PER} met in {LOC} .", "According to {ORG} , prices rose in {LOC} ."),
    "de": ("{PER} arbeitet für {ORG} in {LOC} .", "Gestern besuchte {PER} {LOC} .",
           "{ORG} eröffnete ein Büro in {LOC} .", "Der neue Chef von {ORG} ist {PER} .",
           "{PER} und {PER} trafen sich in {LOC} .", "Laut {ORG} stiegen die Preise in {LOC} ."),
    "es": ("{PER} trabaja para {ORG} en {LOC} .", "Ayer {PER} visitó {LOC} .",
           "{ORG} abrió una oficina en {LOC} .", "El nuevo director de {ORG} es {PER} .",
           "{PER} y {PER} se reunieron en {LOC} .", "Según {ORG} , los precios subieron en {LOC} ."),
    "fr": ("{PER} travaille pour {ORG} à {LOC} .", "Hier {PER} a visité {LOC} .",
           "{ORG} a ouvert un bureau à {LOC} .", "Le nouveau directeur de {ORG} est {PER} .",
           "{PER} et {PER} se sont rencontrés à {LOC} .",
           "Selon {ORG} , les prix ont augmenté à {LOC} ."),
    "ru": ("{PER} работает в {ORG} в {LOC} .", "Вчера {PER} посетил {LOC} .",
           "{ORG} открыла офис в {LOC} .", "Новый директор {ORG} — {PER} .",
           "{PER} и {PER} встретились в {LOC} .", "По данным {ORG} , цены выросли в {LOC} ."),
}

# QA facts: (context sentence, question) per fact kind; {P} is a person, {X} the answer.
QA_FACTS: dict[str, dict[str, tuple[str, str]]] = {
    "en": {"city": ("{P} lives in {X}.", "Where does {P} live?"),
           "company": ("{P} works at {X}.", "Which company does {P} work for?"),
           "age": ("{P} is {X} years old.", "How old is {P}?")},
    "de": {"city": ("{P} wohnt in {X}.", "Wo wohnt {P}?"),
           "company": ("{P} arbeitet bei {X}.", "Bei welcher Firma arbeitet {P}?"),
           "age": ("{P} ist {X} Jahre alt.", "Wie alt ist {P}?")},
    "es": {"city": ("{P} vive en {X}.", "¿Dónde vive {P}?"),
           "company": ("{P} trabaja en {X}.", "¿En qué empresa trabaja {P}?"),
           "age": ("{P} tiene {X} años.", "¿Cuántos años tiene {P}?")},
    "fr": {"city": ("{P} habite à {X}.", "Où habite {P} ?"),
           "company": ("{P} travaille chez {X}.", "Pour quelle entreprise travaille {P} ?"),
           "age": ("{P} a {X} ans.", "Quel âge a {P} ?")},
    "ru": {"city": ("{P} живёт в {X}.", "Где живёт {P}?"),
           "company": ("{P} работает в {X}.", "В какой компании работает {P}?"),
           "age": ("Возраст {P} — {X} лет.", "Сколько лет {P}?")},
}
