using System.Diagnostics;

namespace GuestMemory.Tests.Support;

/// <summary>
/// A program from a Debian package that a test runs for real (a browser to render a report): installed
/// with apt-get when missing, as root on this project's machines; a test that needs one fails, never skips,
/// when it cannot be had.
/// </summary>
internal static class DebianTool
{
    private static readonly Lock Installing = new();

    /// <summary>The full path of <paramref name="command"/>, installing <paramref name="package"/> first when it is not on the PATH.</summary>
    public static string Require(string command, string package)
    {
        lock (Installing)
        {
            if (Find(command) is string found) return found;
            Run("apt-get", "update", "-qq");
            Run("apt-get", "install", "-y", "-qq", "--no-install-recommends", package);
            return Find(command) ?? throw new InvalidOperationException($"apt-get installed {package}, but {command} is still not on the PATH");
        }
    }

    private static string? Find(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Select(dir => Path.Combine(dir, command)).FirstOrDefault(File.Exists);

    private static void Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        start.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        using Process process = Process.Start(start)!;
        Task<string> errors = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) Assert.Fail($"{program} {string.Join(' ', arguments)} failed (exit {process.ExitCode}): {errors.Result}");
    }
}
