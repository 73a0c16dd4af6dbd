# Splits Mozilla's certdata.txt into one PEM file per certificate trusted to identify servers, as
# the ca-certificates source's certdata2pem.py does: the same selection, file names and bytes.
# Written for undistro because that script needs Python and python3-cryptography, which a root
# made of undistro's packages does not have; POSIX awk (busybox's applet) is enough.
# Run in the directory holding certdata.txt (and blacklist.txt, if any), with LC_ALL=C so that
# printf "%c" writes bytes:   LC_ALL=C awk -f certdata2pem.awk certdata.txt
#
# certdata.txt, after a BEGINDATA line: objects of "ATTRIBUTE TYPE VALUE" lines, each starting at
# CKA_CLASS and ending at an empty line; MULTILINE_OCTAL values run to an END line as \ooo bytes.

BEGIN {
	in_data = 0; in_ml = 0; in_obj = 0; n = 1
	B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	HEX = "0123456789abcdef"
	while ((getline line < "blacklist.txt") > 0) {
		line = trim(line)
		if (line == "" || substr(line, 1, 1) == "#") continue
		sub(/#.*/, "", line)
		blacklisted[trim(line)] = 1
	}
}

function trim(s) { sub(/^[ \t\r\n]+/, "", s); sub(/[ \t\r\n]+$/, "", s); return s }

function fail(msg) { print "certdata2pem: certdata.txt line " NR ": " msg; failed = 1; exit 1 }

# The \ooo bytes of one MULTILINE_OCTAL line, appended to the value as space-separated numbers.
function octal_bytes(s,   parts, k, i, o) {
	k = split(s, parts, "\\")
	for (i = 2; i <= k; i++) {
		o = substr(parts[i], 1, 3)
		if (o !~ /^[0-3][0-7][0-7]$/) continue
		value = value " " (substr(o, 1, 1) * 64 + substr(o, 2, 1) * 8 + substr(o, 3, 1))
	}
}

# Standard base64 of space-separated byte values, in lines of 64 characters.
function base64(bytes,   b, nb, i, v, out, line, pad) {
	nb = split(bytes, b, " ")
	out = ""
	for (i = 1; i <= nb; i += 3) {
		v = b[i] * 65536 + (i + 1 <= nb ? b[i + 1] * 256 : 0) + (i + 2 <= nb ? b[i + 2] : 0)
		out = out substr(B64, int(v / 262144) + 1, 1) substr(B64, int(v / 4096) % 64 + 1, 1)
		out = out (i + 1 <= nb ? substr(B64, int(v / 64) % 64 + 1, 1) : "=")
		out = out (i + 2 <= nb ? substr(B64, v % 64 + 1, 1) : "=")
	}
	line = ""
	while (length(out) > 64) { line = line substr(out, 1, 64) "\n"; out = substr(out, 65) }
	return line out
}

# A certificate's file name from its label, as certdata2pem.py makes it: the quotes dropped,
# "/ ," to "_", "()" to "=", and \xNN escapes turned into the bytes they name.
function file_name(label,   s, out, c, hi, lo) {
	s = substr(label, 2, length(label) - 2)
	gsub(/[\/ ,]/, "_", s); gsub(/[()]/, "=", s)
	out = ""
	while ((c = index(s, "\\")) > 0) {
		if (substr(s, c + 1, 1) != "x") fail("label " label ": an escape other than \\xNN")
		hi = index(HEX, tolower(substr(s, c + 2, 1))) - 1
		lo = index(HEX, tolower(substr(s, c + 3, 1))) - 1
		if (hi < 0 || lo < 0) fail("label " label ": a bad \\x escape")
		out = out substr(s, 1, c - 1) sprintf("%c", hi * 16 + lo)
		s = substr(s, c + 4)
	}
	return out s
}

!in_data { if (/^BEGINDATA/) in_data = 1; next }
/^#/ { next }
in_obj && trim($0) == "" { n++; in_obj = 0; next }
trim($0) == "" { next }
in_ml {
	if (/^END/) { obj[n, field] = value; in_ml = 0 }
	else if (type == "MULTILINE_OCTAL") octal_bytes(trim($0))
	else value = value $0
	next
}
{
	if (/^CKA_CLASS/) in_obj = 1
	line = trim($0)
	k = split(line, parts, " ")
	if (k < 2) fail("an attribute without a type")
	field = parts[1]; type = parts[2]
	if (type == "MULTILINE_OCTAL") { in_ml = 1; value = ""; next }
	# The value is the rest of the line after the second space, as written.
	rest = substr(line, length(field) + 2)
	obj[n, field] = k > 2 ? substr(rest, index(rest, " ") + 1) : ""
}

END {
	if (failed) exit 1
	if (!in_data) { print "certdata2pem: no BEGINDATA line in certdata.txt"; exit 1 }
	if (in_ml) { print "certdata2pem: certdata.txt ends inside a MULTILINE_OCTAL value"; exit 1 }
	for (i = 1; i <= n; i++) {
		if (obj[i, "CKA_CLASS"] != "CKO_NSS_TRUST") continue
		label = obj[i, "CKA_LABEL"]; auth = obj[i, "CKA_TRUST_SERVER_AUTH"]
		if (label in blacklisted) print "Certificate " label " blacklisted, ignoring."
		else if (auth == "CKT_NSS_TRUSTED_DELEGATOR") trusted[label] = 1
		else if (auth == "CKT_NSS_NOT_TRUSTED") print "UNTRUSTED BUT NOT BLACKLISTED CERTIFICATE FOUND: " label
		else print "Ignoring certificate " label ".  SAUTH=" auth ", EPROT=" obj[i, "CKA_TRUST_EMAIL_PROTECTION"]
	}
	written = 0
	for (i = 1; i <= n; i++) {
		if (obj[i, "CKA_CLASS"] != "CKO_CERTIFICATE" || !(obj[i, "CKA_LABEL"] in trusted)) continue
		name = file_name(obj[i, "CKA_LABEL"])
		f = name ".crt"
		# A second certificate under one name becomes NAME_2.crt (a third replaces it), as upstream's.
		if (name in made) { print "Found duplicate certificate name " name ", renaming."; f = name "_2.crt" }
		made[name] = 1
		printf "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n", base64(obj[i, "CKA_VALUE"]) > f
		close(f)
		written++
	}
	if (written == 0) { print "certdata2pem: no trusted certificate in certdata.txt"; exit 1 }
}
