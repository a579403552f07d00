"""Evidence that code was made unreadable on purpose, measured on tokens.

Obfuscation alone is not malice: commercial encoders protect licensed plugins, minifiers
shorten names.  So these measures only ever ADD to capability evidence: a file whose
obfuscation hides something that runs code or commands (a built call name, eval of a
variable, a dynamic call, an include of a computed path) is suspicious; an obfuscated file
with no reachable capability is at most a low-weight note.

Thresholds were set on the benign development corpus (58k files of applications and
WordPress plugins): each one is rare there and common in packed shells.
"""
import re

# OOO0O0 / lI1lI / _0x3f2a style names: no human writes a variable like that
_SOUP = re.compile(rb'^(?:[O0_]{4,}|[Il1_]{4,}|_0x[0-9a-fA-F]{3,}|[O0Il1_]{6,})$')
_LONG_LITERAL = re.compile(rb'^[A-Za-z0-9+/=\s]{2000,}$|^[0-9A-Fa-f]{2000,}$')


def measure(an):
    """Obfuscation signals of an Analysis: list of (rule, pos, text)."""
    toks, stats, p = an.toks, an.stats, an.p
    out = []
    names = set()
    soup = 0
    first_soup = None
    for t in toks:
        if t[0] == 'V':
            if t[1] not in names:
                names.add(t[1])
                if _SOUP.match(t[1]):
                    soup += 1
                    if first_soup is None:
                        first_soup = t[2]
        if len(names) > 5000:
            break
    if soup >= 4 and soup * 3 >= len(names):
        out.append(('php.obfuscation.identifier_soup', first_soup,
                    '%d of %d variable names are of the O0O0/lI1l/_0x kind' % (soup, len(names))))
    if p.gotos >= 12 and p.labels >= 8 and p.gotos * 25 >= len(toks) / 4:
        out.append(('php.obfuscation.goto_flattened', toks[0][2] if toks else 0,
                    '%d goto jumps between %d labels: control flow flattened' % (p.gotos, p.labels)))
    if stats.escapes >= 40 and stats.escapes * 4 * 2 >= stats.string_bytes:
        out.append(('php.obfuscation.escaped_strings', 0,
                    '%d hex/octal escapes: strings spelled byte by byte' % stats.escapes))
    if stats.comments_inline >= 12:
        out.append(('php.obfuscation.inline_comments', 0,
                    '%d comments inside expressions' % stats.comments_inline))
    if an.built_calls >= 3:
        out.append(('php.obfuscation.built_names', an.built_dangerous[0][0] if an.built_dangerous else 0,
                    '%d calls through names computed at run time' % an.built_calls))
    return out
