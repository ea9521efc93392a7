#!/usr/bin/env bash
# Rebuilds the vendored GraphiQL files in this folder from pinned npm packages (their published
# production builds; nothing is compiled here). Run it after changing a version below, then
# update GRAPHIQL_VERSION in src/http/graphiql.rs and SHA256SUMS from what this prints. npm
# checks each tarball against the registry's integrity hash; SHA256SUMS pins what we committed,
# so re-running it for the same versions must reproduce the same bytes.
set -euo pipefail
cd "$(dirname "$0")"
GRAPHIQL=4.1.2
REACT=18.3.1 # the last React with UMD builds, which GraphiQL 4's UMD bundle expects as globals

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for pkg in graphiql-$GRAPHIQL react-$REACT react-dom-$REACT; do
  mkdir -p "$work/$pkg" && tar -xzf "$work/$pkg.tgz" -C "$work/$pkg"
done
cp "$work/graphiql-$GRAPHIQL/package/graphiql.min.js" graphiql.min.js
cp "$work/graphiql-$GRAPHIQL/package/graphiql.min.css" graphiql.min.css
cp "$work/react-$REACT/package/umd/react.production.min.js" react.production.min.js
cp "$work/react-dom-$REACT/package/umd/react-dom.production.min.js" react-dom.production.min.js
# The source-map comments point at files we do not ship.
sed -i '/^\/\/# sourceMappingURL=/d' ./*.min.js
{
  echo "graphiql $GRAPHIQL (MIT)"; cat "$work/graphiql-$GRAPHIQL/package/LICENSE"; echo
  echo "react, react-dom $REACT (MIT)"; cat "$work/react-$REACT/package/LICENSE"
} > LICENSES.txt
sha256sum graphiql.min.js graphiql.min.css react.production.min.js react-dom.production.min.js
sha256sum --quiet -c SHA256SUMS || echo "vendor.sh: the files differ from SHA256SUMS (expected after a version change)" >&2
