namespace GuestMemory.Tests.Support;

/// <summary>
/// Tests that measure the process's real RSS. xunit runs this collection alone, after the parallel ones,
/// so no other test allocates or frees memory while a figure is taken.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RssCollection
{
    public const string Name = "process RSS";
}
