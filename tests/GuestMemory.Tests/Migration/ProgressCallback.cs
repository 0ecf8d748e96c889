using GuestMemory.Migration;

namespace GuestMemory.Tests.Migration;

/// <summary>Progress reports handled on the session's own thread, at once (a test's deterministic "guest" writes there).</summary>
internal sealed class ProgressCallback(Action<MigrationProgress> report) : IProgress<MigrationProgress>
{
    public void Report(MigrationProgress value) => report(value);
}
