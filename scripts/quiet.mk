# SPDX-License-Identifier: GPL-2.0
#
# Kbuild-style quiet output for the userspace and BPF makefiles:
# "  CC      file.o" by default, the full command with V=1.

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(patsubst $(abspath $(TOP))/%,%,$(abspath $(2)))";
endif

MAKEFLAGS += --no-print-directory
