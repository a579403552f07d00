# Build helpers.  `make sdist` packs the tracked files of this checkout; `make rpm` builds the
# noarch RPM from that tarball with rpmbuild (works on Debian's `rpm` package too: --nodeps,
# and the spec falls back where Debian's rpm lacks Red Hat macros).
#   make rpm RPMBUILD_OPTS="--with systemd"     # the EL7+ flavour
#   make rpm RPMBUILD_OPTS="--without check"    # skip %check
#   make rpm TOPDIR=/tmp/x DISTDIR=/tmp/x        # build outside the checkout

NAME     := newfilewatch
VERSION  := $(shell sed -n "s/^__version__ = '\(.*\)'/\1/p" newfilewatch/__init__.py)
# The system python3 (what the RPM's /usr/bin/python3 shebang runs; its setuptools and pytest
# come from python3-setuptools and python3-pytest), else whichever python3 is on PATH.
PYTHON   ?= $(if $(wildcard /usr/bin/python3),/usr/bin/python3,python3)
TOPDIR   ?= $(CURDIR)/rpmbuild
DISTDIR  ?= dist
TARBALL  := $(DISTDIR)/$(NAME)-$(VERSION).tar.gz
RPMBUILD_OPTS ?=

.PHONY: all sdist rpm clean man

all: rpm

# The whole test suite on Python 3.6, the default python3 and 3.13 (README's test command).
# Installs what it needs first: apt packages (as root) and one venv per Python.
check:
	bash tests/run.sh

# Regenerate man/newfilewatch.8 and man/newfilewatch.conf.5 from the parser and the configspec
# (after adding a command or a key, or a merge that did).  Needs the runtime libraries: a test
# venv's python by default.
MANPYTHON ?= $(firstword $(wildcard .venv-*/bin/python) $(PYTHON))
man:
	$(MANPYTHON) tools/manpages.py

# Tracked files only (as in a clean checkout), under NAME-VERSION/.
sdist:
	@mkdir -p $(DISTDIR)
	git ls-files -z | xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh \
	  | tar --null -T - --transform 's,^,$(NAME)-$(VERSION)/,' --owner=0 --group=0 \
	        --sort=name -czf $(TARBALL)
	@echo $(TARBALL)

rpm: sdist
	mkdir -p $(TOPDIR)/SOURCES $(TOPDIR)/SPECS
	cp $(TARBALL) $(TOPDIR)/SOURCES/
	cp rpm/$(NAME).spec $(TOPDIR)/SPECS/
	rpmbuild -ba --nodeps --define "_topdir $(TOPDIR)" --define "__python3 $$(command -v $(PYTHON))" \
	  $(RPMBUILD_OPTS) $(TOPDIR)/SPECS/$(NAME).spec

clean:
	rm -rf $(TOPDIR) dist build
