namespace GuestMemory.Tests.Support;

/// <summary>Files of the repository the tests run from, for tests that keep docs and code in step.</summary>
internal static class RepositoryFiles
{
    /// <summary>The folder that holds GuestMemory.slnx, above the test's output folder.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The text of a file given by its path from the repository's root (with '/').</summary>
    public static string Read(string path) => File.ReadAllText(Path.Combine(Root, path));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GuestMemory.slnx"))) return dir.FullName;
        throw new InvalidOperationException("GuestMemory.slnx not found above " + AppContext.BaseDirectory);
    }
}
