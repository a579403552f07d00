"""The command line: one argparse parser, one small function per command.

Exit codes follow what admins' scripts already expect: `scan` like clamscan (0 nothing found,
1 something suspicious, 2 error only, 130 interrupted; see scancmd.py), `status` like LSB (0 running, 1 dead with pidfile,
3 stopped), `check-config` 0 valid / 1 invalid.
"""
import argparse
import os
import signal
import sys
import time

from newfilewatch import __version__
from newfilewatch import config as configmod

EXIT_CONFIG = 1


def _config_option(parser):
    parser.add_argument('--config', '-c', metavar='FILE',
                        help='config file (default: %s if it exists, else built-in defaults)'
                        % configmod.DEFAULT_PATH)


def _watch_options(parser):
    parser.add_argument('--watch', '-w', metavar='DIR', action='append', default=[],
                        help='watch DIR instead of the configured dirs (repeatable)')
    parser.add_argument('--events', metavar='FILE|-',
                        help='write one JSON object per event to FILE ("-" for stdout)')


def build_parser():
    parser = argparse.ArgumentParser(
        prog='newfilewatch',
        description='Watch web roots for new files and report the ones that look like webshells.')
    parser.add_argument('--version', action='version', version='%(prog)s ' + __version__)
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True

    p = sub.add_parser('run', help='watch (daemonizes unless --foreground)')
    _config_option(p)
    _watch_options(p)
    p.add_argument('--foreground', '-f', action='store_true',
                   help='stay in the foreground: new files on stdout, alerts on stderr')
    p.set_defaults(func=cmd_run)

    p = sub.add_parser('start', help='start the daemon; returns once it watches or has failed')
    _config_option(p)
    _watch_options(p)
    p.set_defaults(func=cmd_start, foreground=False)

    for name, func, text in (('stop', 'cmd_stop', 'stop the daemon (SIGTERM, then SIGKILL)'),
                             ('status', 'cmd_status', 'LSB status: 0 running, 1 dead, 3 stopped'),
                             ('reload', 'cmd_reload', 'check the config, then SIGHUP the daemon'),
                             ('reopen-logs', 'cmd_reopen_logs',
                              'SIGUSR1: reopen the log files after rotation (0 if not running)')):
        p = sub.add_parser(name, help=text)
        _config_option(p)
        p.set_defaults(func=globals()[func])

    p = sub.add_parser('scan', help='scan existing files (exit 0 clean, 1 suspicious, 2 error, '
                                    '130 interrupted)')
    _config_option(p)
    from newfilewatch import scancmd
    scancmd.add_arguments(p)
    throttle_options(p)
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser('quarantine', help='move files out of reach (root); --list shows them')
    _config_option(p)
    p.add_argument('--list', action='store_true', help='list the quarantined files')
    p.add_argument('--sha256', metavar='HEX', help='refuse unless the file still has this sha256 '
                   '(as printed in the alert)')
    p.add_argument('--escaped', action='store_true', help='PATH is written escaped as in alerts '
                   '(\\n, \\xNN): unescape it first')
    p.add_argument('--from-alert', action='store_true', help='read the alert JSON on stdin and '
                   'quarantine its file (for [response] auto_quarantine)')
    p.add_argument('paths', nargs='*', metavar='PATH')
    p.set_defaults(func=cmd_quarantine)

    p = sub.add_parser('restore', help='put quarantined files back (root)')
    _config_option(p)
    p.add_argument('ids', nargs='+', metavar='ID')
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser('report', help='summarise the event log ([log] events_file)')
    _config_option(p)
    p.add_argument('--since', default='24h', metavar='AGE',
                   help='only events this recent: 30m, 24h, 7d, 2w (default 24h), or "all"')
    p.add_argument('--events', metavar='FILE', help='the event log (default: [log] events_file)')
    p.add_argument('--json', action='store_true', help='the summary as one JSON object')
    p.set_defaults(func=cmd_report)

    p = sub.add_parser('check-config', help='validate the config (exit 0 valid, 1 invalid)')
    _config_option(p)
    _watch_options(p)            # takes start's options, so init and systemd pass $OPTIONS
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser('rules', help='list the detection rules (names for [scan] disabled_rules)')
    p.set_defaults(func=cmd_rules)

    p = sub.add_parser('test-alert', help='send one test mail through the configured route')
    _config_option(p)
    p.set_defaults(func=cmd_test_alert)

    p = sub.add_parser('tune-sysctl', help='raise fs.inotify.max_user_watches (never lowers it)')
    p.add_argument('--value', type=int, default=524288, metavar='N')
    p.add_argument('--proc-file', default='/proc/sys/fs/inotify/max_user_watches')
    p.add_argument('--conf-file', default=None,
                   help='persistent setting (default /etc/sysctl.d/90-newfilewatch.conf, '
                        'or /etc/sysctl.conf where no sysctl.d is read)')
    p.set_defaults(func=cmd_tune_sysctl)
    return parser


def _ionice_value(text):
    from newfilewatch import throttle
    try:
        return throttle.parse_ionice(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def throttle_options(parser):
    """--nice / --ionice, defaulting to [daemon] nice / ionice_class / ionice_level."""
    parser.add_argument('--nice', type=int, choices=range(-20, 20), metavar='N',
                        help='CPU niceness -20..19 (default: [daemon] nice)')
    parser.add_argument('--ionice', type=_ionice_value, metavar='CLASS[:LEVEL]',
                        help='I/O priority: idle, best-effort[:0-7] or realtime[:0-7] '
                             '(default: [daemon] ionice_class / ionice_level)')


def apply_throttle(options, cfg):
    from newfilewatch import throttle
    nice = cfg.daemon.nice if options.nice is None else options.nice
    io_class, io_level = options.ionice or (cfg.daemon.ionice_class, cfg.daemon.ionice_level)
    for note in throttle.apply(nice, io_class, io_level):
        sys.stderr.write('newfilewatch: %s\n' % note)


def validated(options):
    """The config with --watch applied, also checked by building the rule engine (unknown
    rule names, unreadable YARA files); raises ConfigError."""
    cfg = configmod.load(options.config)
    from newfilewatch.service import make_engine
    make_engine(cfg.scan)
    return configmod.with_watch_dirs(cfg, getattr(options, 'watch', None) or ())


def _say_problems(exc):
    for problem in exc.problems:
        sys.stderr.write('%s: %s\n' % (exc.path, problem))


def load_config(options, lenient=False):
    """validated(), printing every problem and exiting 1 when the config is invalid.

    `lenient` (stop, status): a broken file must not keep an admin from stopping the daemon,
    so the problems are shown and the built-in [daemon] settings (pidfile) used instead.
    """
    try:
        return validated(options)
    except configmod.ConfigError as exc:
        _say_problems(exc)
        if not lenient:
            sys.exit(EXIT_CONFIG)
        sys.stderr.write('newfilewatch: config invalid; using the built-in [daemon] settings\n')
        return configmod.load(os.devnull)


def cmd_run(options):
    cfg = load_config(options)
    if not options.foreground:
        from newfilewatch import daemon
        return daemon.start(cfg, options)
    from newfilewatch import throttle
    from newfilewatch.daemon import drop_foreground, install_signal_handlers
    from newfilewatch.privileges import PrivilegeError
    from newfilewatch.service import Service, ServiceError
    for note in throttle.apply_config(cfg.daemon):      # as root still: a negative nice works
        sys.stderr.write('newfilewatch: %s\n' % note)
    try:
        # as root: fanotify marks first (they need root), then to the service user, as the daemon
        marks, notes = drop_foreground(cfg)
    except (PrivilegeError, OSError) as exc:
        sys.stderr.write('newfilewatch: cannot start: %s\n' % (getattr(exc, 'strerror', None)
                                                               or exc))
        return 1
    service = Service(cfg, events=options.events, foreground=True, marks=marks, notes=notes)
    install_signal_handlers(service)
    signal.signal(signal.SIGINT, lambda _signum, _frame: service.request('stop'))   # Ctrl-C
    try:
        service.open()
    except ServiceError as exc:
        sys.stderr.write('newfilewatch: cannot start: %s\n' % exc)
        service.close()
        return 1
    try:
        return service.run()
    finally:
        service.close()


def cmd_start(options):
    from newfilewatch import daemon
    return daemon.start(load_config(options), options)


def cmd_stop(options):
    from newfilewatch import daemon
    return daemon.stop(load_config(options, lenient=True))


def cmd_status(options):
    from newfilewatch import daemon
    return daemon.status(load_config(options, lenient=True))


def cmd_reload(options):
    """A broken config is never sent to the daemon: LSB exit 6 (not configured), daemon untouched."""
    from newfilewatch import daemon
    try:
        cfg = validated(options)
    except configmod.ConfigError as exc:
        sys.stderr.write('newfilewatch: not reloading, the config is broken:\n')
        _say_problems(exc)
        return 6
    return daemon.reload(cfg, options.config)


def cmd_reopen_logs(options):
    """For logrotate's postrotate: never fails because the daemon is stopped."""
    from newfilewatch import daemon
    return daemon.reopen_logs(load_config(options, lenient=True))


def cmd_check_config(options):
    cfg = load_config(options)
    print('%s: OK' % (cfg.path or 'built-in defaults'))
    return 0


def cmd_test_alert(options):
    cfg = load_config(options)
    if not cfg.mail.to and not cfg.hooks.webhook_url:
        sys.stderr.write('newfilewatch: no mail recipients: set `to` in the [mail] section\n')
        return 1
    from newfilewatch import alerts
    host, ip = alerts.host_and_ip()
    failed = 0
    if cfg.mail.to:
        try:
            alerts.send_test(cfg.mail, host, ip)
            print('test mail sent to %s via %s' % (', '.join(cfg.mail.to), cfg.mail.method))
        except alerts.AlertError as exc:
            sys.stderr.write('newfilewatch: test mail not sent: %s\n' % exc)
            failed += 1
    if cfg.hooks.webhook_url:
        from newfilewatch import webhook
        try:
            webhook.post(cfg.hooks.webhook_url, webhook.test_payload(host), cfg.hooks.webhook_timeout)
            print('test message posted to %s' % webhook.redacted(cfg.hooks.webhook_url))
        except webhook.WebhookError as exc:
            sys.stderr.write('newfilewatch: test message not posted: %s\n' % exc)
            failed += 1
    return 1 if failed else 0


def _quarantine_targets(options):
    """(path, sha256) pairs from the arguments or, with --from-alert, from the alert on stdin."""
    import json
    from newfilewatch.escape import unescape_name
    if options.from_alert:
        record = json.loads(sys.stdin.read())
        if record.get('event') != 'alert' or not record.get('sha256'):
            raise ValueError('stdin is not an alert with a sha256')
        return [(unescape_name(record['path']), record['sha256'])]
    paths = [unescape_name(p) if options.escaped else p for p in options.paths]
    return [(p, options.sha256) for p in paths]


def cmd_quarantine(options):
    """Exit 0 when every file was quarantined, 1 when one was refused, 2 when not root."""
    from newfilewatch import quarantine
    from newfilewatch.escape import escape_name
    cfg = load_config(options)
    qdir = cfg.response.quarantine_dir
    if options.list:
        for record in quarantine.load_records(qdir):
            print(quarantine.describe_record(record))
        return 0
    if os.geteuid() != 0:
        sys.stderr.write('newfilewatch: quarantine needs root (it moves other accounts\' files)\n')
        return 2
    try:
        targets = _quarantine_targets(options)
    except ValueError as exc:
        sys.stderr.write('newfilewatch: cannot read the alert: %s\n' % exc)
        return 2
    if not targets:
        sys.stderr.write('newfilewatch: name the files to quarantine (or --list)\n')
        return 2
    roots = quarantine.watch_roots(cfg.watch.dirs)
    failed = 0
    for path, sha256 in targets:
        try:
            record = quarantine.quarantine(path, roots, qdir, sha256, cfg.log.events_file,
                                           by=os.environ.get('SUDO_USER', 'root'))
        except (quarantine.QuarantineError, OSError) as exc:
            failed += 1
            sys.stderr.write('newfilewatch: not quarantined: %s\n' % (
                exc if isinstance(exc, quarantine.QuarantineError) else '%s: %s' % (
                    escape_name(path), exc.strerror or exc)))
            continue
        print('quarantined %s as %s (sha256 %s); undo: newfilewatch restore %s' % (
            record['shown'], record['id'], record['sha256'], record['id']))
        if record['nlink'] > 1:
            print('  note: %d other hard link(s) to the same content remain elsewhere (find -samefile)'
                  % (record['nlink'] - 1))
    return 1 if failed else 0


def cmd_restore(options):
    from newfilewatch import quarantine
    cfg = load_config(options)
    if os.geteuid() != 0:
        sys.stderr.write('newfilewatch: restore needs root\n')
        return 2
    failed = 0
    for qid in options.ids:
        try:
            record = quarantine.restore(qid, cfg.response.quarantine_dir, cfg.log.events_file)
        except (quarantine.QuarantineError, OSError) as exc:
            failed += 1
            sys.stderr.write('newfilewatch: not restored: %s\n' % (
                exc if isinstance(exc, quarantine.QuarantineError) else '%s: %s' % (
                    qid, exc.strerror or exc)))
            continue
        print('restored %s to %s' % (qid, record['shown']))
    return 1 if failed else 0


def cmd_report(options):
    from newfilewatch import report
    cfg = load_config(options)
    path = options.events or cfg.log.events_file
    if not path or path == '-':
        sys.stderr.write('newfilewatch: no event log: set [log] events_file (or --events FILE)\n')
        return 2
    try:
        since = report.parse_age(options.since)
    except ValueError as exc:
        sys.stderr.write('newfilewatch: --since: %s\n' % exc)
        return 2
    try:
        summary = report.summarise_file(path, time.time() - since if since else None)
    except OSError as exc:
        sys.stderr.write('newfilewatch: cannot read %s: %s\n' % (path, exc.strerror or exc))
        return 2
    sys.stdout.write(report.as_json(summary) if options.json else report.as_text(summary))
    return 0


def cmd_rules(options):
    """The rule catalogue an admin reads to understand an alert or to disable a rule."""
    import textwrap
    from newfilewatch import signatures, wordpress
    # hook (issue 13): the integrity rules live in wordpress.RULES, raised by the scanner
    for rule in list(signatures.RULES.values()) + list(wordpress.RULES.values()):
        print('%-34s %-8s %3d  %s' % (rule.name, rule.severity, rule.weight, textwrap.shorten(
            rule.summary, 200)))
    print('\nA file is suspicious when the sum of its rules\' weights reaches [scan] threshold '
          '(default 10).\nYARA rules from [scan] yara_rules add hits named %sRULENAME.'
          % signatures.YARA_PREFIX)
    return 0


def cmd_tune_sysctl(options):
    from newfilewatch import sysctl
    return sysctl.tune_command(options.value, options.proc_file, options.conf_file)


def cmd_scan(options):
    from newfilewatch import scancmd
    return scancmd.run(options)


def main(argv=None):
    parser = build_parser()
    options = parser.parse_args(argv)
    try:
        return options.func(options)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == '__main__':
    sys.exit(main())
