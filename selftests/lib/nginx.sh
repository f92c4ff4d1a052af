# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# An unmodified nginx (Debian's) for the tests that put one behind
# capymig.  Sourced after lib.sh.

# nginx_conf DIR MAIN HTTP: writes DIR/nginx.conf, for an nginx run in the
# foreground with everything it writes (pid, log, temporary files) in the
# test's private DIR; MAIN is added to the main context, HTTP (its server
# blocks among them) to the http one.
nginx_conf()
{
	local dir=$1 main=$2 http=$3

	mkdir -p "$dir" || return 1
	cat >"$dir/nginx.conf" <<-CONF
	daemon off;
	# It reads the files of this test's private directory.
	user root;
	pid $dir/nginx.pid;
	error_log $dir/error.log info;
	$main
	events {
		worker_connections 256;
	}
	http {
		access_log off;
		client_body_temp_path $dir/body;
		proxy_temp_path $dir/proxy;
		fastcgi_temp_path $dir/fastcgi;
		uwsgi_temp_path $dir/uwsgi;
		scgi_temp_path $dir/scgi;
		keepalive_timeout 60s;
		$http
	}
	CONF
}
