#!/usr/bin/env bash
# Packs the two libraries (GuestMemory, GuestMemory.Simulation) as a release would and checks them the
# way a user meets them: pack gives no warning; each .nupkg carries its readme, its MIT licence and a
# .snupkg beside it; and the C# example of each package's README, copied as it stands, builds and runs in
# a new console project that references nothing but the packed package (restored from a local folder
# into an empty package cache, so no project reference or cached copy can stand in for it).
#
# Usage: scripts/check-packages.sh        (about 2 minutes on 2 cores; needs the NuGet registry for the
#                                          packages' own dependencies)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
feed="$work/feed"

fail() { echo "check-packages: $*" >&2; exit 1; }

for project in GuestMemory GuestMemory.Simulation; do
  echo "== pack $project"
  dotnet pack "$root/src/$project" -c Release -o "$feed" -nologo 2>&1 | tee "$work/pack-$project.log"
  if grep -qiE ": warning |warning NU[0-9]" "$work/pack-$project.log"; then fail "packing $project warned"; fi
  nupkg="$feed/$project.0.1.0.nupkg"
  [ -f "$nupkg" ] || fail "no $nupkg"
  [ -f "${nupkg%.nupkg}.snupkg" ] || fail "no symbols package for $project"
  unzip -l "$nupkg" | grep -q " README.md$" || fail "$project.nupkg has no README.md"
  unzip -p "$nupkg" "$project.nuspec" | grep -q '<license type="expression">MIT</license>' || fail "$project.nuspec has no MIT licence"
done

# A console project per package, outside the repository (so none of its Directory.*.props apply), whose
# Program.cs is the first ```csharp block of the package's README.
cat > "$work/nuget.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="packed" value="$feed" />
  </packageSources>
  <packageSourceMapping>
    <packageSource key="packed"><package pattern="GuestMemory" /><package pattern="GuestMemory.*" /></packageSource>
    <packageSource key="nuget.org"><package pattern="*" /></packageSource>
  </packageSourceMapping>
</configuration>
EOF
for project in GuestMemory GuestMemory.Simulation; do
  app="$work/app-$project"
  mkdir -p "$app"
  cp "$work/nuget.config" "$app/"
  cat > "$app/ReadmeExample.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="$project" Version="0.1.0" />
  </ItemGroup>
</Project>
EOF
  awk '/^```csharp$/ { inside = 1; next } /^```$/ && inside { exit } inside { print }' "$root/src/$project/README.md" > "$app/Program.cs"
  [ -s "$app/Program.cs" ] || fail "src/$project/README.md has no csharp example"
  echo "== run the README example of $project from the package"
  (cd "$app" && dotnet restore --packages "$work/packages" -nologo && dotnet run --no-restore -c Release) | tee "$work/run-$project.log"
  [ -d "$work/packages/${project,,}/0.1.0" ] || fail "$project 0.1.0 was not restored from the packed package"
done
echo "check-packages: both packages packed cleanly and their README examples ran from the packages alone"
