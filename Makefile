# SPDX-License-Identifier: GPL-2.0
#
# capymig: build everything, test everything, show it working.
#
#   make            module, BPF objects, tools and test helpers
#   make check      unit tests and BPF loads on this kernel, then the
#                   kernel suite in a qemu guest on Debian's stock kernel
#   make demo       the skew experiment, in the guest (Documentation/demo.rst)
#   make demo-move  one connection moved, step by step, in the guest
#   make bench      the benchmarks, in the guest (Documentation/benchmarks.rst)
#   make install    on a host whose kernel loads modules
#
# V=1 shows full commands.  KDIR=... builds the module for other headers.

TOP := $(CURDIR)
export TOP V

PREFIX ?= /usr/local
# systemd reads units from here too.
UNITDIR ?= $(PREFIX)/lib/systemd/system

ifneq ($(V),1)
MAKEFLAGS += --no-print-directory
endif

all: kmod bpf userspace selftests

kmod:
	$(MAKE) -C kmod $(if $(KDIR),KDIR=$(KDIR))

bpf:
	$(MAKE) -C bpf

userspace:
	$(MAKE) -C userspace

selftests: userspace bpf
	$(MAKE) -C selftests

check: all
	selftests/check

demo: all
	scripts/demo

demo-move: all
	selftests/vm/run scripts/demo-move

bench: all
	selftests/vm/run selftests/bench/run

# DESTDIR stages the files for a package.  Kbuild's modules_install runs
# depmod for the kernel the module was built for, which need not be the
# running one.  Only what is installed is built: no test program.
install: kmod bpf userspace
	$(MAKE) -C kmod modules_install $(if $(DESTDIR),INSTALL_MOD_PATH=$(DESTDIR)) \
		$(if $(KDIR),KDIR=$(KDIR))
	install -D -m 0755 build/userspace/capyctl $(DESTDIR)$(PREFIX)/sbin/capyctl
	install -D -m 0755 build/userspace/capymigd \
		$(DESTDIR)$(PREFIX)/sbin/capymigd
	install -D -m 0755 build/userspace/capymig-switchd \
		$(DESTDIR)$(PREFIX)/sbin/capymig-switchd
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' \
		userspace/capymigd/capymigd.service.in \
		>$(DESTDIR)$(UNITDIR)/capymigd.service
	# The example configuration, never over one already there.
	test -e $(DESTDIR)/etc/capymig/capymigd.conf || \
		install -D -m 0644 userspace/capymigd/capymigd.conf \
			$(DESTDIR)/etc/capymig/capymigd.conf

clean:
	$(MAKE) -C kmod clean
	rm -rf build

.PHONY: all kmod bpf userspace selftests check demo demo-move bench install \
	clean
