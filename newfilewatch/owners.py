"""`[mail] notify_owner`: the account owner gets their own alert mail, about their files only.

Where an owner's address comes from, first match wins:
1. `[mail] owner_map = FILE`: lines `user address` (`#` comments), the admin's explicit word;
2. cPanel's `/var/cpanel/users/USER` `CONTACTEMAIL=` line (dir: `[mail] cpanel_users_dir`),
   where the server is a cPanel one (the daemon's CAP_DAC_READ_SEARCH reads the 0600 file);
3. `[mail] owner_address`, a template such as `{owner}@example.com`.
An owner with none of these gets no mail of their own (the admin's mail still has the file).

The route is one of the alert desk's (alerts.Desk) with its own spool dir, so owners' mail has
the same durability, batching, cap and retry as the admin's.  A batch becomes one mail per
address holding only that owner's findings; each mail that is accepted acknowledges its own
alerts, so one owner's refusing mail server does not resend the others' mail.

Owner names come from the passwd database, but a name is checked (a plain login name) before
it is joined into a path or a template, and an address must look like one address (no
spaces, commas, angle brackets or control characters) before it reaches a To: header.
"""
import logging
import os
import re

from newfilewatch import mailer, mailfmt
from newfilewatch.alerts import DETAIL_LIMIT, Delivery, pick_detailed

_USER = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$')
_ADDRESS = re.compile(r'^[^@\s<>,;:"()\[\]\\]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$|^[^@\s<>,;:"()\[\]\\]+@localhost$')


def valid_user(name):
    """A plain login name; all digits is a uid without a passwd entry (scanner.OwnerNames)."""
    return bool(_USER.match(name or '')) and '..' not in name and not name.isdigit()


def valid_address(text):
    return bool(_ADDRESS.match(text or ''))


def parse_owner_map(text):
    """`user address` lines -> dict; returns (mapping, problems) with line numbers; pure."""
    mapping, problems = {}, []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if len(words) != 2 or not valid_user(words[0]) or not valid_address(words[1]):
            problems.append('line %d: expected "user address", got %r' % (number, line[:80]))
            continue
        mapping[words[0]] = words[1]
    return mapping, problems


def parse_cpanel_user(text):
    """The CONTACTEMAIL= value of a cPanel user file ('' when absent); pure."""
    for line in text.splitlines():
        key, sep, value = line.partition('=')
        if sep and key.strip() == 'CONTACTEMAIL':
            # cPanel allows a second address in CONTACTEMAIL2; the first one is the owner's
            return value.strip()
    return ''


def from_template(template, owner):
    if not template:
        return ''
    return template.replace('{owner}', owner)


class AddressBook(object):
    """owner name -> address, from the map, cPanel or the template (see the module docstring)."""

    def __init__(self, mapping=None, cpanel_dir='', template='', logger=None):
        self.mapping = dict(mapping or {})
        self.cpanel_dir = cpanel_dir
        self.template = template
        self.log = logger or logging.getLogger('newfilewatch.owners')
        self._cache = {}

    @classmethod
    def from_config(cls, mail_cfg, logger=None):
        log = logger or logging.getLogger('newfilewatch.owners')
        mapping = {}
        if mail_cfg.owner_map:
            try:
                with open(mail_cfg.owner_map, 'rb') as fh:
                    mapping, problems = parse_owner_map(fh.read().decode('utf-8', 'replace'))
            except OSError as exc:
                problems = ['cannot read: %s' % (exc.strerror or exc)]
            for problem in problems:
                log.error('[mail] owner_map %s: %s', mail_cfg.owner_map, problem)
        return cls(mapping, mail_cfg.cpanel_users_dir, mail_cfg.owner_address, log)

    def address(self, owner):
        """The owner's address, or None (unknown owner, no source, or not a valid address)."""
        if owner in self._cache:
            return self._cache[owner]
        found = None
        if valid_user(owner):
            for source, candidate in (('owner_map', self.mapping.get(owner, '')),
                                      ('cPanel', self._cpanel(owner)),
                                      ('owner_address', from_template(self.template, owner))):
                if not candidate:
                    continue
                if valid_address(candidate):
                    found = candidate
                    break
                self.log.warning('owner %s: %s address %r is not usable', owner, source,
                                 candidate[:80])
        if len(self._cache) > 10000:
            self._cache.clear()
        self._cache[owner] = found
        return found

    def _cpanel(self, owner):
        if not self.cpanel_dir:
            return ''
        try:
            fd = os.open(os.path.join(self.cpanel_dir, owner), os.O_RDONLY | os.O_NOFOLLOW |
                         os.O_NONBLOCK)
        except OSError:
            return ''
        try:
            with os.fdopen(fd, 'rb') as fh:
                return parse_cpanel_user(fh.read(1 << 16).decode('utf-8', 'replace'))
        except OSError:
            return ''


def group_by_address(alerts, book):
    """[(address, [alerts])] in order of first appearance; alerts without an address left out."""
    groups, order = {}, []
    for alert in alerts:
        address = book.address(alert.finding.owner)
        if address is None:
            continue
        if address not in groups:
            groups[address] = []
            order.append(address)
        groups[address].append(alert)
    return [(a, groups[a]) for a in order]


class OwnerMailRoute(object):
    """A desk route: per batch, one mail to each owner with only that owner's findings."""

    what = 'owner mail'

    def __init__(self, mail_cfg, host, ip, spool_dir, book, send=None, detail_limit=DETAIL_LIMIT,
                 logger=None):
        self.cfg = mail_cfg
        self.host = host
        self.ip = ip
        self.book = book
        self.spool_dir = spool_dir
        self.batch_window = mail_cfg.batch_window
        self.max_per_hour = mail_cfg.max_per_hour
        self.dedupe_period = mail_cfg.dedupe_period
        self.detail_limit = max(1, int(detail_limit))
        self.log = logger or logging.getLogger('newfilewatch.alerts')
        self._send = send or mailer.send

    def describe(self):
        return mailer.route_name(self.cfg)

    def wants(self, finding):
        return self.book.address(finding.owner) is not None

    def deliver(self, batch, overflow):
        """`overflow` alerts have no owner any more (only counted): the admin's mail counts them."""
        done, errors = [], []
        for address, alerts in group_by_address(batch, self.book):
            detailed = pick_detailed(alerts, self.detail_limit)
            ids = [a.id for a in alerts]
            cfg = self.cfg._replace(to=(address,))
            intro = ('Files of your account %s on this server look like webshells or other '
                     'malicious code. Your hosting provider has been told too.'
                     % alerts[0].finding.owner)
            try:
                message = mailfmt.render([a.finding for a in detailed], cfg, self.host, self.ip,
                                         more=len(alerts) - len(detailed), log_path='',
                                         msgid=mailfmt.stable_msgid(ids + [address], self.host),
                                         intro=intro, commands=False)
                self._send(message, cfg)
            except mailer.MailError as exc:
                errors.append('%s: %s' % (address, exc))
                continue
            done.extend(ids)
        # alerts whose owner lost their address since add(): nobody to tell, not an error
        orphans = [a.id for a in batch if self.book.address(a.finding.owner) is None]
        return Delivery(done + orphans, '; '.join(errors) if errors else None, True)
