"""The rule set: every name an alert can carry, with its severity, weight and a one-line why.

Rules describe what code DOES (request input reaching execution, decoders feeding eval,
sockets handed to a shell, PHP hidden in images...), never what one known sample looks like,
so they carry over to shells nobody has seen yet.  The matching itself lives in the other
modules of this package, one per rule family; this module is the catalogue admins read
(``newfilewatch rules`` prints it) and the single place where weights are tuned: the rules
name a rule (and a variant of it, see VARIANTS) and never write a number themselves.

Score = sum over rules of min(weight * occurrences, cap).  With the default threshold of 10,
one 'critical' rule alone makes a file suspicious; 'high' needs one more piece of evidence;
'medium' and 'low' only ever add to other evidence.
"""
import collections

Rule = collections.namedtuple('Rule', 'name severity weight cap family summary')

SEVERITIES = ('low', 'medium', 'high', 'critical')

_TABLE = [
    # --- PHP: request input reaching execution -------------------------------------------
    ('php.code.request_input', 'critical', 15, 15, 'php-exec',
     'request input ($_GET/$_POST/$_COOKIE/headers/php://input...) reaches eval, assert, '
     'create_function or preg_replace /e'),
    ('php.exec.request_input', 'critical', 15, 15, 'php-exec',
     'request input reaches an OS command (system, exec, shell_exec, passthru, popen, '
     'proc_open, pcntl_exec, backticks)'),
    ('php.call.request_function', 'critical', 15, 15, 'php-exec',
     'the client chooses which function runs: $_GET[..](..), call_user_func/array_map/usort/'
     'ob_start... with a request value as the callback'),
    ('php.exec.global_input', 'high', 8, 8, 'php-exec',
     'eval/an OS command gets a variable the file never sets: input injected by '
     'register_globals or extract() on request data'),
    ('php.include.request_input', 'critical', 12, 12, 'php-exec',
     'include/require of a path taken from request input'),
    ('php.call.variable_function_input', 'high', 8, 8, 'php-exec',
     'a function chosen at run time ($f(..), $a[0](..)) is called with request input'),
    ('php.exec.many_methods', 'high', 8, 8, 'php-exec',
     'three or more different OS command functions: shells try every way to run a command'),
    ('php.code.decoded_input', 'critical', 12, 12, 'php-obfuscation',
     'eval/assert/create_function runs the output of a decoder '
     '(base64_decode, gzinflate, str_rot13...)'),
    ('php.code.decrypted_input', 'critical', 12, 12, 'php-obfuscation',
     'eval/assert/create_function of a variable in a file that decrypts request input '
     '(openssl_decrypt, mcrypt, a byte-wise XOR loop with a key): encrypted-payload shells'),
    ('php.code.custom_decoder', 'critical', 12, 12, 'php-obfuscation',
     'eval/assert/create_function/include runs what a function defined in the same file '
     'decodes (its body uses chr/ord/hexdec/base64/gzinflate/str_rot13/strrev/XOR) from a '
     'long literal: a packer that ships its own decoder'),
    ('php.code.remote_fetch', 'medium', 4, 4, 'php-dropper',
     'eval/assert/create_function of a variable in a file that fetches from a URL'),
    ('php.code.fetched_code', 'critical', 12, 12, 'php-dropper',
     'eval/assert/create_function runs what the file fetched from a URL or a path the '
     'request names: code that lives elsewhere'),
    ('php.code.eval_variable', 'low', 2, 2, 'php-exec',
     'eval/assert of a non-literal expression (templating engines do this too)'),
    ('php.exec.call', 'low', 2, 2, 'php-exec',
     'an OS command function is called (image tools do this too)'),
    ('php.callback.dangerous_name', 'high', 8, 12, 'php-exec',
     'a callback-taking function is handed the NAME of an execution function '
     "(array_map('assert', ..), call_user_func('system', ..)); weight 12 for an XSLT/XPath "
     "expression php:function('system', ..) in a file that calls registerPHPFunctions()"),
    ('php.preg_replace.eval_modifier', 'high', 8, 12, 'php-exec',
     'preg_replace with the /e modifier evaluates its replacement as PHP (weight 6 for a '
     'literal template as old applications wrote; 12 when the replacement is code from '
     'elsewhere)'),
    ('php.small.dynamic_input', 'critical', 12, 12, 'php-exec',
     'a short script (at most 2 KB of code) reads request input and calls code chosen at run '
     'time ($f(..), ${..}(..), eval/assert of a variable, reflection invoke, a callback given '
     'a variable): the shape of a one-line shell, however the name is spelled'),
    ('php.exec.form_input', 'high', 8, 8, 'php-exec',
     'a variable named like a field of the page\'s own HTML form reaches eval or an OS command'),
    ('php.globals.form_sink', 'high', 6, 12, 'php-filemanager',
     'a variable the file never sets, named like a field of its own HTML form, chooses what '
     'unlink/rename/copy/chmod/fopen/mysql_query/mail act on (register_globals input); '
     'counted per kind of call'),
    ('php.shell.toolkit', 'high', 8, 8, 'php-filemanager',
     'one page with an HTML form bundles a shell\'s tools: OS commands plus two more of file '
     'deletion/writes, directory listing, raw SQL, mail, sockets, eval, uploads, server probes '
     '(or five of them without OS commands; weight 6 then)'),
    ('php.sql.request_query', 'high', 8, 8, 'php-filemanager',
     'the whole text of a SQL query comes from the request and goes to mysql_query/'
     'mysqli_query/pg_query...: a SQL console (applications build queries around values)'),
    ('php.sql.request_login', 'high', 6, 6, 'php-filemanager',
     'the database user or password of mysql_connect/mysqli_connect comes straight from the '
     'request or a cookie: a database client for whoever opens the page'),
    ('php.sql.file_io', 'high', 6, 6, 'php-filemanager',
     'a SQL statement in the code makes the database server write or read files '
     '(SELECT .. INTO OUTFILE/DUMPFILE, LOAD_FILE()): dropping files (MOF, webshells) or '
     'reading them past PHP\'s restrictions'),
    ('php.request.extract', 'medium', 4, 4, 'php-exec',
     'extract()/parse_str() turn request input into variables'),
    # --- PHP: obfuscation -----------------------------------------------------------------
    ('php.obfuscation.decoder_chain', 'medium', 4, 4, 'php-obfuscation',
     'nested decoders over a literal (gzinflate(base64_decode(\'...\')))'),
    ('php.obfuscation.decoded_code', 'high', 6, 6, 'php-obfuscation',
     'a decoded literal holds PHP code that calls execution functions'),
    ('php.obfuscation.hidden_function', 'high', 8, 8, 'php-obfuscation',
     'an execution function name is spelled indirectly (hex/octal escapes, chr() chains, '
     "'sys'.'tem', decoded or reversed literals)"),
    ('php.call.computed_name', 'critical', 15, 15, 'php-obfuscation',
     'a function name is computed from pieces (concatenation, XOR, strtr, str_replace, '
     'decoders) into an execution function and then called: $f = \'as\'.\'sert\'; $f(..)'),
    ('php.obfuscation.symbol_code', 'high', 8, 12, 'php-obfuscation',
     'a function is called through a variable ($_(..), ${..}(..)) in code that builds names '
     'without writing letters: XOR/NOT/OR of punctuation literals, $__++ on strings, joins of '
     'chr() or of letters picked from a string by index, or code that is mostly symbols '
     '(weight 12 when a build technique and a mostly-symbol text come together)'),
    ('php.obfuscation.hidden_input', 'high', 8, 8, 'php-obfuscation',
     'request input named indirectly: ${\'_PO\'.\'ST\'}, a superglobal name built from pieces'),
    ('php.obfuscation.long_blob', 'medium', 3, 3, 'php-obfuscation',
     'a very long base64/hex literal'),
    # --- PHP: droppers, uploaders, mailers, reverse shells ---------------------------------
    ('php.dropper.remote_write', 'high', 7, 12, 'php-dropper',
     'content fetched from a URL (a literal http/ftp one, or one the request names) and '
     'written to disk in the same file (5 more when the file written is a .php name)'),
    ('php.write.request_path', 'high', 8, 16, 'php-dropper',
     'a file is written/uploaded to a path the client chooses '
     '(move_uploaded_file/copy/file_put_contents/fopen with a request value as destination); '
     '4 more when the path rides in a cookie or a custom header'),
    ('php.write.unchecked', 'medium', 4, 4, 'php-dropper',
     'a short stand-alone script (at most 4 KB of code, no classes) writes a client-chosen '
     'path or upload and never checks its name, extension, type or size'),
    ('php.mailer.request_recipients', 'high', 7, 11, 'php-mailer',
     'mail() with recipients/content taken from request input (4 more when two of recipient, '
     'From header and -f envelope sender come from the request: a spoofing relay)'),
    ('php.mailer.loop', 'medium', 4, 4, 'php-mailer',
     'mail() called inside a loop'),
    ('php.exec.com_object', 'high', 8, 12, 'php-exec',
     'PHP creates a Windows COM object that runs programs (WScript.Shell, Shell.Application: '
     'weight 12) or enumerates the server (IIS://, WinNT://: weight 10; WScript.Network: 8)'),
    ('php.revshell.socket_shell', 'critical', 15, 15, 'revshell',
     'a network socket is opened next to a shell (/bin/sh, cmd.exe, proc_open with the socket), '
     'or a command is handed the client\'s own address and port to connect back to'),
    ('php.recon.other_accounts', 'high', 6, 12, 'php-recon',
     'reads the system\'s account list (/etc/passwd, /etc/named.conf, valiases) or builds paths '
     'into other accounts\' homes from a variable or a wildcard (/home/$user/..., /home/*): '
     'config grabbers and '
     'symlink attacks on shared hosting; each of the two counts'),
    ('php.bypass.restrictions', 'high', 8, 12, 'php-recon',
     'works around safe_mode/open_basedir/disable_functions: reads through compress.zlib:// or '
     'curl file://, ini_restore of safe_mode/open_basedir, symlink to /, imap_open with '
     '-oProxyCommand, '
     'or sets LD_PRELOAD for the programs it starts (weight 12: the disable_functions bypass)'),
    ('php.net.listener', 'high', 6, 6, 'revshell',
     'the page listens for network connections (socket_listen, stream_socket_server): a bind '
     'shell or a proxy (FTP libraries do this too, so it needs more evidence)'),
    ('php.deface.index_overwrite', 'medium', 4, 4, 'php-dropper',
     'opens index.php/index.html of its own directory for writing: a defacement'),
    ('php.backdoor.admin_account', 'critical', 12, 12, 'php-dropper',
     'a file that answers unauthenticated AJAX calls (wp_ajax_nopriv_ hook), or a loose script '
     'that boots WordPress itself (wp-load.php), creates or promotes an administrator account: '
     'a backdoor for whoever knows its name'),
    ('php.recon.environment', 'low', 2, 2, 'php-recon',
     'probes that shells run on arrival (disable_functions, safe_mode, posix_getpwuid, '
     'error_reporting(0) with set_time_limit(0))'),
    # --- files that must not hold code ----------------------------------------------------
    ('file.code_in_image', 'critical', 15, 15, 'file-type',
     'an image (or icon) holds a PHP/ASP/server-script open tag'),
    ('file.php_in_text', 'medium', 4, 4, 'file-type',
     'a text file (.txt/.log/.csv...) holds PHP code'),
    ('file.php_program_in_text', 'high', 8, 8, 'file-type',
     'a text file (.txt/.log/.csv...) holding PHP that is a page from its first byte (PHP or '
     'HTML, not prose around a snippet): a script staged under a harmless name, to be '
     'renamed or included later'),
    ('htaccess.php_handler', 'critical', 12, 12, 'file-type',
     '.htaccess makes non-PHP extensions (images, .txt...) run as PHP, or hands a whole '
     'directory to PHP'),
    ('htaccess.auto_prepend', 'high', 8, 8, 'file-type',
     'auto_prepend_file/auto_append_file set in .htaccess/.user.ini/php.ini'),
    # --- CGI scripts and other server-side languages ---------------------------------------
    ('cgi.exec.request_input', 'critical', 15, 15, 'cgi',
     'a CGI script (Perl/Python/shell) runs commands and reads request parameters'),
    ('cgi.revshell', 'critical', 15, 15, 'revshell',
     'a script connects a socket to a shell (IO::Socket/socket + /bin/sh, /dev/tcp/, pty.spawn)'),
    ('cgi.exec.call', 'low', 2, 2, 'cgi',
     'a CGI script runs OS commands'),
    ('asp.exec.request_input', 'critical', 15, 15, 'asp-jsp',
     'ASP/ASPX evaluates or executes request input (Eval/Execute(Request..), '
     'WScript.Shell/Process.Start with Request)'),
    ('jsp.exec.request_input', 'critical', 15, 15, 'asp-jsp',
     'JSP runs Runtime.exec/ProcessBuilder with request parameters'),
    ('asp.file.request_input', 'high', 8, 8, 'asp-jsp',
     'ASP/ASPX server code reads request input (Request.Form/QueryString/Request(..)) and '
     'reaches files or code (Scripting.FileSystemObject, ADODB.Stream, StreamWriter, SaveAs, '
     'Execute): a file manager / uploader'),
    ('jsp.file.request_input', 'high', 8, 8, 'asp-jsp',
     'a JSP page reads request.getParameter and writes, deletes or renames files '
     '(FileOutputStream, FileWriter, File.delete/renameTo)'),
    ('file.foreign_server_code', 'medium', 4, 4, 'file-type',
     'ASP or JSP server code (page directive, Server.CreateObject, request API inside <% %>) '
     'in a file named .php/.txt/.html: dropped to run elsewhere or after a rename'),
    # --- token analysis (detect/): folding, taint, obfuscation ---------------------------
    ('php.obfuscation.built_call', 'high', 8, 8, 'php-obfuscation',
     'an execution function (eval, assert, system, a callback taker...) is called through a '
     'name the code computes at run time (pieces, indexes into a string, XOR, decoders)'),
    ('php.obfuscation.with_capability', 'high', 8, 8, 'php-obfuscation',
     'code made unreadable on purpose (see the php.obfuscation.* notes) that can also run '
     'code or commands: what the obfuscation hides is reachable'),
    ('php.obfuscation.identifier_soup', 'low', 2, 2, 'php-obfuscation',
     'most variable names are of the O0O0 / lI1l / _0x1f kind (a note: adds to capability)'),
    ('php.obfuscation.goto_flattened', 'low', 2, 2, 'php-obfuscation',
     'control flow flattened into goto jumps (YAK Pro style; a note: adds to capability)'),
    ('php.obfuscation.escaped_strings', 'low', 2, 2, 'php-obfuscation',
     'strings spelled with hex/octal escapes (FOPO style; a note: adds to capability)'),
    ('php.obfuscation.inline_comments', 'low', 2, 2, 'php-obfuscation',
     'comments placed inside expressions to break up names (a note: adds to capability)'),
    ('php.obfuscation.built_names', 'low', 2, 2, 'php-obfuscation',
     'several calls through names computed at run time (a note: adds to capability)'),
    ('php.steal.card_data', 'critical', 12, 12, 'php-stealer',
     'payment card fields of the request (cc_number, cvv, card...) are mailed, written to a '
     'file, put in a cookie or sent to a URL: a card skimmer'),
    ('php.steal.credentials', 'high', 8, 8, 'php-stealer',
     'passwords typed into a form are mailed, written to a file or sent to a URL instead of '
     'being checked: a phishing kit or credential stealer'),
    ('php.steal.whole_request', 'high', 8, 8, 'php-stealer',
     'the whole request ($_POST/$_REQUEST/$_COOKIE as one value) is encoded and posted to a URL, '
     'or mailed to an address in the code: a form sniffer'),
    ('php.steal.victim_profile', 'medium', 4, 4, 'php-stealer',
     "the stolen data is sent with the victim's address and browser (phishing kits log them)"),
    ('php.dropper.server_config', 'high', 8, 8, 'php-dropper',
     'writes .htaccess/.user.ini rules (rewrites to a doorway page, handlers that make other '
     'files run as PHP, auto_prepend_file): an SEO-spam loader or a persistence trick'),
    ('php.dropper.writes_code', 'high', 8, 8, 'php-dropper',
     'writes PHP code (decoded or literal) into a file: a dropper; the code written is '
     'analysed too'),
    ('php.dropper.self_delete', 'medium', 4, 4, 'php-dropper',
     'the script deletes itself (unlink(__FILE__)): a one-shot dropper covering its tracks'),
    ('php.dropper.timestomp', 'medium', 4, 4, 'php-dropper',
     'back-dates a file with touch() (a chosen time, or another file\'s mtime) so it hides '
     'among old files'),
    ('php.dropper.fetched_php', 'critical', 12, 12, 'php-dropper',
     'writes what it fetched from a URL into a .php file: a loader planting code'),
    ('php.backdoor.hardcoded_key', 'medium', 5, 5, 'php-dropper',
     'request input is compared with a hard-coded md5/sha1/sha256 digest: the password of a '
     'backdoor (applications compare with stored, not literal, hashes)'),
    ('php.include.media_file', 'critical', 12, 12, 'php-dropper',
     'include/require of an icon, image or font: PHP hidden in a file nobody reads as code '
     '(the favicon_*.ico infection)'),
    ('php.include.hidden_file', 'high', 8, 8, 'php-dropper',
     'include/require of a file that is not a PHP script (an .ico, image, .txt...): code '
     'hidden where nobody looks for it'),
    ('php.include.escaped_path', 'high', 8, 8, 'php-obfuscation',
     'include/require of a path spelled in hex/octal escapes ("\\x2f\\150ome..."): a hidden loader'),
    ('php.steal.hidden_log', 'high', 8, 8, 'php-stealer',
     'request data (form fields, cookies) is written into a file named like an image or a '
     'stylesheet: a stolen-data drop box hidden among static files'),
    ('php.seo.cloaking', 'critical', 10, 10, 'php-seo',
     'search-engine crawlers (by User-Agent or Referer) are served content fetched from '
     'elsewhere, or visitors from search engines are redirected away: SEO-spam cloaking'),
    ('js.skimmer', 'critical', 12, 12, 'php-stealer',
     'a page script collects form fields that look like card data and beacons them away '
     '(new Image().src, sendBeacon): a JavaScript card skimmer'),
    ('analysis.budget', 'high', 10, 10, 'engine',
     'the file exhausted the per-file analysis budget ([scan] max_cpu): reported rather than '
     'passed unread; a crafted file may be trying to tire the scanner'),
    # --- admin keywords -------------------------------------------------------------------
    ('keyword.exec_context', 'medium', 4, 8, 'keywords',
     'a configured keyword (wget, curl, perl...) inside a command that code runs '
     '(an argument of system/exec/backticks, a line of a shell/CGI script)'),
    # --- the engine itself ----------------------------------------------------------------
    ('engine.error', 'low', 0, 0, 'engine',
     'the engine failed on this file (a bug: please report it); the file was not fully scanned'),
]

RULES = collections.OrderedDict((row[0], Rule(*row)) for row in _TABLE)

# Stronger or weaker forms of a rule's evidence, keyed (rule, variant), weight: the rule
# module names the variant it saw (hit(..., variant=...)).  A variant may weigh more than its
# rule's cap: the cap then rises to the heaviest hit (Engine._verdict).  Keep the rule's
# summary above in step: it is what admins read.
VARIANTS = collections.OrderedDict([
    # an executable name or a URL as the prepended file, not a .php of the site
    (('htaccess.auto_prepend', 'odd_target'), 12),
    # WScript.Shell / Shell.Application run programs; IIS:// and WinNT:// enumerate the
    # server's sites, accounts and passwords; WScript.Network only probes
    (('php.exec.com_object', 'runs_programs'), 12),
    (('php.exec.com_object', 'enumerates_server'), 10),
    (('php.exec.com_object', 'network_probe'), 8),
    # php:function('system', ..) in an XSLT/XPath expression after registerPHPFunctions()
    (('php.callback.dangerous_name', 'xslt_expression'), 12),
    # LD_PRELOAD for the programs it starts: the disable_functions bypass
    (('php.bypass.restrictions', 'ld_preload'), 12),
    # a bypass pointed at a path the client names: the tool in use
    (('php.bypass.restrictions', 'aimed_by_request'), 12),
    # a build technique AND a mostly-symbol text come together
    (('php.obfuscation.symbol_code', 'built_and_sparse'), 12),
    # a toolkit page without OS commands (five capabilities of the others)
    (('php.shell.toolkit', 'without_exec'), 6),
    # the written path rides in a cookie or a custom header (counts on top of the write)
    (('php.write.request_path', 'hidden_path'), 4),
    # the request picks two of recipient, From: header and -f sender: a relay
    (('php.mailer.request_recipients', 'relay'), 4),
    # the included path came from the request through another variable
    (('php.include.request_input', 'via_variable'), 5),
    # three OS command functions, but each given its own command line
    (('php.exec.many_methods', 'different_commands'), 4),
    # preg_replace /e with a literal template (old applications) or code from elsewhere
    (('php.preg_replace.eval_modifier', 'literal_template'), 6),
    (('php.preg_replace.eval_modifier', 'code_from_elsewhere'), 12),
    # the fetched content is written to a .php name (counts on top of the write)
    (('php.dropper.remote_write', 'php_destination'), 5),
])

# Code that a buffer evaluates or decodes counts as hidden code (php.obfuscation.decoded_code)
# when it yields a hit at least this heavy: a lone low note (eval of a variable) does not.
DECODED_CODE_EVIDENCE = 4


def weight(rule, variant=None):
    """The weight of one hit of `rule`, or of its `variant` (KeyError for an unknown one, so
    a typo in a rule module fails its tests instead of scoring 0)."""
    return RULES[rule].weight if variant is None else VARIANTS[(rule, variant)]

# YARA hits are named 'yara.<RuleName>'; their weight comes from the rule's meta `weight`.
YARA_PREFIX = 'yara.'


def families():
    """Rule names grouped by family, in catalogue order (for docs and `rules` listings)."""
    out = collections.OrderedDict()
    for rule in RULES.values():
        out.setdefault(rule.family, []).append(rule.name)
    return out
