using System.Text.RegularExpressions;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Examples;

/// <summary>
/// The package's readme (src/GuestMemory/README.md, what NuGet shows) has the same example as the
/// repository's README, which <see cref="ReadmeExampleTests"/> runs; scripts/check-packages.sh runs it from
/// the packed package.
/// </summary>
public sealed partial class PackageReadmeTests
{
    [Fact]
    public void The_package_readme_shows_the_readme_example()
    {
        string readme = FirstExample(RepositoryFiles.Read("README.md"));
        string package = FirstExample(RepositoryFiles.Read("src/GuestMemory/README.md"));

        Assert.Contains("new GlobalMemoryManager", readme);
        Assert.Equal(readme, package);
    }

    private static string FirstExample(string markdown) => CSharpBlock().Match(markdown) is { Success: true } m
        ? m.Groups["code"].Value.ReplaceLineEndings("\n")
        : throw new InvalidOperationException("no ```csharp block");

    [GeneratedRegex(@"^```csharp\n(?<code>.*?)^```$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}
