"""A page bundling a shell's tools behind its own form, versus a page with one query."""
from tests.support.families import php_family


def test_a_form_page_with_commands_files_sql_and_mail_is_a_toolkit():
    page = (b"<html><form method=post><input name=cmd><input name=f type=file></form><?php\n"
            b"if ($cmd) echo shell_exec($cmd); unlink($f); $h = opendir('.');\n"
            b"mysql_query($q); mail($to, $s, $m); ?>")
    found = php_family(page, 'form_pages')
    assert found['php.shell.toolkit'] == [8]
    assert found['php.globals.form_sink'] == [6]       # $f: a form field the file never sets


def test_a_form_page_with_one_fixed_query_is_not():
    page = b"<html><form method=post><input name=q></form><?php\n$r = mysql_query('SELECT 1'); ?>"
    assert php_family(page, 'form_pages') == {}
