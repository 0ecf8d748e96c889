namespace GuestMemory.Cli;

/// <summary>
/// Finds the real guest RAM dumps when none are named: the raw or gzip files in the nearest
/// <c>shared/data</c> folder above the current directory or above the <c>gmm</c> assembly (the
/// repository keeps them in <c>../shared/data</c>, next to the checkout).
/// </summary>
internal static class DumpLocator
{
    private static readonly string[] Patterns = ["*.raw.gz", "*.raw"];

    /// <summary>The dumps in the first <c>shared/data</c> folder found, sorted by name.</summary>
    /// <exception cref="FileNotFoundException">None found.</exception>
    public static string[] FindDefault()
    {
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (DirectoryInfo? dir = new(start); dir != null; dir = dir.Parent)
            {
                string data = Path.Combine(dir.FullName, "shared", "data");
                if (!Directory.Exists(data)) continue;
                string[] dumps = Patterns.SelectMany(p => Directory.GetFiles(data, p)).Distinct().Order(StringComparer.Ordinal).ToArray();
                if (dumps.Length > 0) return dumps;
            }
        }
        throw new FileNotFoundException($"no dump given (--dumps FILE...) and no shared/data folder with *.raw.gz or *.raw dumps above {Environment.CurrentDirectory} or {AppContext.BaseDirectory}");
    }

    /// <summary>The named dumps (each must be an existing regular file, see <see cref="InputFile"/>), or the default ones when none is named.</summary>
    public static string[] Resolve(string[]? named)
    {
        if (named is not { Length: > 0 }) return FindDefault();
        foreach (string path in named) InputFile.RequireRegular(path, "dump");
        return named;
    }
}
