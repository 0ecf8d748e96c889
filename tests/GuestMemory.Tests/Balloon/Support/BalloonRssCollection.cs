namespace GuestMemory.Tests.Balloon.Support;

/// <summary>
/// Balloon tests that measure the process's real RSS. xunit runs this collection alone, after the
/// parallel ones, so no other test allocates or frees memory while the figures are taken.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BalloonRssCollection
{
    public const string Name = "balloon RSS";
}
