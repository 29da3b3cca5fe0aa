# shellcheck shell=bash
# Helpers sourced by infra/up, infra/test and infra/crm. Not executable on its own.

# shellcheck disable=SC2034 # used by the scripts that source this file
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${CRM_DATABASE_URL:=postgres://postgres@127.0.0.1:5432/crm}"
: "${CRM_NATS_URL:=nats://127.0.0.1:4222}"
export CRM_DATABASE_URL CRM_NATS_URL

# url_hostport URL -> "host:port" part of scheme://[user[:pass]@]host[:port][/path][?query].
# For a comma-separated NATS server list only the first entry counts.
url_hostport() {
  local rest=${1%%,*}
  rest=${rest#*://}
  rest=${rest%%[/?]*}
  printf '%s\n' "${rest##*@}"
}

# url_host URL / url_port URL DEFAULT_PORT. IPv6 literals come as [::1]:5432.
url_host() {
  local hp
  hp=$(url_hostport "$1")
  if [[ $hp == \[* ]]; then hp=${hp%%]*}; hp=${hp#[}; else hp=${hp%%:*}; fi
  printf '%s\n' "${hp:-127.0.0.1}"
}
url_port() {
  local hp
  hp=$(url_hostport "$1")
  hp=${hp##*]}
  if [[ $hp == *:* ]]; then printf '%s\n' "${hp##*:}"; else printf '%s\n' "$2"; fi
}

# url_db URL -> database name (path without the leading slash and the query).
url_db() {
  local rest=${1#*://}
  rest=${rest%%\?*}
  [[ $rest == */* ]] && rest=${rest#*/} || rest=
  printf '%s\n' "${rest:-postgres}"
}

# url_with_db URL DB -> the same URL (credentials and query kept) naming database DB.
url_with_db() {
  local scheme=${1%%://*} rest=${1#*://} query=
  [[ $rest == *\?* ]] && query="?${rest#*\?}"
  rest=${rest%%\?*}
  printf '%s://%s/%s%s\n' "$scheme" "${rest%%/*}" "$2" "$query"
}

# url_user URL -> the user name (without any password), or "(default)" when the URL has none.
url_user() {
  local rest=${1#*://}
  rest=${rest%%[/?]*}
  if [[ $rest == *@* ]]; then rest=${rest%@*}; printf '%s\n' "${rest%%:*}"; else echo '(default)'; fi
}
